// SPDX-License-Identifier: Apache-2.0
// The runner of system tools lives in core (authctl/run_program.hpp), shared
// with the PAM module.
#pragma once

#include "authctl/run_program.hpp"
