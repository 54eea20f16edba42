#ifndef CONVEMERGE_CFFTW_SHIM_H
#define CONVEMERGE_CFFTW_SHIM_H
#include <fftw3.h>
#endif
