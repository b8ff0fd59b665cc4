/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat layer: the one place where differences between the kernels
 * ksmmod supports are handled, one header per concern under
 * include/ksmmod/compat/ (WireGuard's compat tree is the model): shims only,
 * no design.
 *
 * The KSMMOD_HAVE_* macros come from build-time probes of the target kernel's
 * headers (compat.mk), never from version numbers: Debian backports and
 * stable updates move functions independently of LINUX_VERSION_CODE.
 *
 * - compat/defs.h: definitions and mm flag accessors needing no kernel function;
 * - compat/symbols.h: the non-exported functions that differ, for the symbol
 *   layer (include/ksmmod/symbols.h declares the kcall_*() thunks);
 * - compat/pgtable.h, compat/rmap.h, compat/mmu_notifier.h: wrappers over
 *   kernel interfaces that differ, or are inline but call non-exported
 *   functions;
 * - compat/zero.h: KSM zero pages; compat/lookup.h: what is mapped where;
 * - compat/hooks.h: the hook points and the kernels that need each.
 */
#ifndef _KSMMOD_COMPAT_H
#define _KSMMOD_COMPAT_H

#include "ksmmod/compat/defs.h"
#include "ksmmod/symbols.h"
#include "ksmmod/compat/pgtable.h"
#include "ksmmod/compat/rmap.h"
#include "ksmmod/compat/mmu_notifier.h"
#include "ksmmod/compat/zero.h"
#include "ksmmod/compat/lookup.h"
#include "ksmmod/compat/hooks.h"

#endif /* _KSMMOD_COMPAT_H */
