/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place the batch_unmap version is written.  The module
 * (MODULE_VERSION), unmapstat and lazyfree-bench (--version) include it; the
 * Makefile reads it for DKMS and `make install`; tests/host/version.sh checks
 * that module/dkms.conf, CHANGELOG.md and this file agree.
 */
#ifndef BU_VERSION_H
#define BU_VERSION_H

#define BU_VERSION "0.6.0"

#endif /* BU_VERSION_H */
