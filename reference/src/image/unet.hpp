// SPDX-License-Identifier: MIT
// The reference program uses the U-Net of eps::networks (networks/include/eps/networks/unet.hpp).
#pragma once

#include "eps/networks/unet.hpp"

namespace eps::cli {
using networks::UNet;
using networks::UNetConfig;
using networks::UNetImpl;
}  // namespace eps::cli
