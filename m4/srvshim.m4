# SRVSHIM_CHECK_CFLAG(FLAG): append FLAG to WARN_CFLAGS when the compiler
# accepts it (with -Werror, so an unknown flag is not silently kept).
AC_DEFUN([SRVSHIM_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  srvshim_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); WARN_CFLAGS="$WARN_CFLAGS $1"],
    [AC_MSG_RESULT([no])])
  CFLAGS=$srvshim_save_CFLAGS
])
