// SPDX-License-Identifier: MIT
/// @file version.hpp
/// eps's version (parsed by CMake).
#pragma once

#define EPS_VERSION_MAJOR 0
#define EPS_VERSION_MINOR 1
#define EPS_VERSION_PATCH 0
#define EPS_VERSION_STRING "0.1.0"
