#ifndef CONVEMERGE_CPOSIX_H
#define CONVEMERGE_CPOSIX_H

/* Linux renameat2(2) flags that glibc's headers hide from Swift. Both return 0,
   or -1 with errno set (ENOSYS / EINVAL where the kernel or file system lacks them). */

/* Atomically swaps two existing paths (RENAME_EXCHANGE): a finished run directory
   replaces an earlier one without a moment in which neither exists. */
int convemerge_rename_exchange(const char *from, const char *to);

/* Renames only if `to` does not exist (RENAME_NOREPLACE); EEXIST otherwise. */
int convemerge_rename_noreplace(const char *from, const char *to);

#endif
