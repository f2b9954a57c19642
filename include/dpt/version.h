/* version.h - dpt's version: what `dpt --version` prints and traces record, and the
 * Debian package's version (the Makefile reads it from here). */
#ifndef DPT_VERSION_H
#define DPT_VERSION_H

#define DPT_VERSION "0.1"

#endif
