/* SPDX-License-Identifier: MIT
 * config_feat.h -- feature-test macros, set in one place; every .c file
 * includes this first. */
#ifndef SRVSHIM_CONFIG_FEAT_H
#define SRVSHIM_CONFIG_FEAT_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* recvmmsg, sendmmsg, SO_REUSEPORT, accept4 */
#endif
#ifdef HAVE_CONFIG_H
#include "autoconf.h"
#endif
#endif
