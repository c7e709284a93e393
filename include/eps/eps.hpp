// SPDX-License-Identifier: MIT
/// @file eps.hpp
/// Umbrella header of the backend-agnostic core. Backends are included separately
/// (`eps/backends/eigen.hpp`, ...), so that this header never names a backend type.
#pragma once

#include "eps/backend.hpp"
#include "eps/error.hpp"
#include "eps/linalg.hpp"
#include "eps/operators/concepts.hpp"
#include "eps/operators/dense.hpp"
#include "eps/operators/fourier.hpp"
#include "eps/operators/generators.hpp"
#include "eps/operators/grouped.hpp"
#include "eps/operators/identity_mask.hpp"
#include "eps/parametrization.hpp"
#include "eps/posterior.hpp"
#include "eps/schedule.hpp"
#include "eps/shape.hpp"
#include "eps/version.hpp"
