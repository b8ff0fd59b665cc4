// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod's trace events (include/ksmmod/trace.h): their one definition.
 */
#define CREATE_TRACE_POINTS
#include "ksmmod/trace.h"
