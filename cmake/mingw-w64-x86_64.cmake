# CMake toolchain file for cross-building hostcri for 64-bit Windows with mingw-w64 (win32
# thread model) against the static libraries that scripts/windows/build-deps.sh installs.
#
# The dependency prefix is HOSTCRI_WINDEPS_PREFIX: a CMake variable, else the environment
# variable of that name, else /opt/hostcri-windeps. build-deps.sh writes a copy of this file
# with the prefix set into the prefix itself (<prefix>/mingw-w64-x86_64.cmake).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(_hostcri_host x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_hostcri_host}-gcc)
set(CMAKE_CXX_COMPILER ${_hostcri_host}-g++)
set(CMAKE_RC_COMPILER ${_hostcri_host}-windres)

if(NOT HOSTCRI_WINDEPS_PREFIX)
    if(DEFINED ENV{HOSTCRI_WINDEPS_PREFIX})
        set(HOSTCRI_WINDEPS_PREFIX "$ENV{HOSTCRI_WINDEPS_PREFIX}")
    else()
        set(HOSTCRI_WINDEPS_PREFIX /opt/hostcri-windeps)
    endif()
endif()
# try_compile projects read this file again but see only the environment.
set(ENV{HOSTCRI_WINDEPS_PREFIX} "${HOSTCRI_WINDEPS_PREFIX}")

set(CMAKE_FIND_ROOT_PATH /usr/${_hostcri_host} ${HOSTCRI_WINDEPS_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must see only the prefix's .pc files, never the build host's.
set(ENV{PKG_CONFIG_LIBDIR} "${HOSTCRI_WINDEPS_PREFIX}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Link the C runtime support libraries (libgcc, winpthreads) statically as well, so that the
# programs import only Windows system DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
