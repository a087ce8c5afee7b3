# hakmem.m4 - configure helpers of hakmem's own.

# HAKMEM_CHECK_CFLAG(FLAG, VAR): append FLAG to the shell variable VAR when
# the compiler takes it (with -Werror, so a flag it only warns about is
# not taken).
AC_DEFUN([HAKMEM_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  hakmem_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2="$$2 $1"], [AC_MSG_RESULT([no])])
  CFLAGS=$hakmem_save_CFLAGS
])
