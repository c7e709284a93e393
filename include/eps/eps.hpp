// SPDX-License-Identifier: MIT
/// @file eps.hpp
/// Umbrella header of the backend-agnostic core: traits, schedules, operators, the pivot, samplers,
/// baselines and metrics. Backends are included separately
/// (`eps/backends/eigen.hpp`, ...), so that this header never names a backend type.
#pragma once

#include "eps/backend.hpp"
#include "eps/baselines.hpp"
#include "eps/error.hpp"
#include "eps/image_metrics.hpp"
#include "eps/linalg.hpp"
#include "eps/metrics.hpp"
#include "eps/network_input.hpp"
#include "eps/operators/common.hpp"
#include "eps/operators/compose.hpp"
#include "eps/operators/concepts.hpp"
#include "eps/operators/dense.hpp"
#include "eps/operators/fourier.hpp"
#include "eps/operators/generators.hpp"
#include "eps/operators/grouped.hpp"
#include "eps/operators/identity.hpp"
#include "eps/operators/mask.hpp"
#include "eps/parametrization.hpp"
#include "eps/posterior.hpp"
#include "eps/samplers.hpp"
#include "eps/schedule.hpp"
#include "eps/shape.hpp"
#include "eps/tasks.hpp"
#include "eps/version.hpp"
