/* temp_dir.h - temporary folders and files for the unit tests that write files.
 *
 * temp_dir_setup and temp_dir_teardown are cmocka group fixtures: one folder,
 * /tmp/kdc_<test program>_XXXXXX, held in temp_dir for the whole binary and
 * removed with everything in it at the end. Tests that want a fresh folder per
 * test make their own with mkdtemp and remove it with temp_remove_tree.
 * temp_write_file fails the test on any I/O error, so a broken fixture shows
 * where it broke instead of as a confusing loader error later.
 * Header-only (static inline) so each test binary takes what it uses.
 */
#ifndef KDC_TEST_TEMP_DIR_H
#define KDC_TEST_TEMP_DIR_H

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

static char temp_dir[64];

static inline int temp_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it; 0 on success. */
static inline int temp_remove_tree(const char *dir)
{
    return nftw(dir, temp_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Named after the program so that a folder left by a crash says whose it is. */
static inline int temp_dir_setup(void **state)
{
    (void)state;
    snprintf(temp_dir, sizeof temp_dir, "/tmp/kdc_%.32s_XXXXXX", program_invocation_short_name);
    return mkdtemp(temp_dir) ? 0 : -1;
}

static inline int temp_dir_teardown(void **state)
{
    (void)state;
    return temp_remove_tree(temp_dir) == 0 ? 0 : -1;
}

/* temp_dir/name in buf, which it returns. */
static inline const char *temp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", temp_dir, name);
    return buf;
}

static inline void temp_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

#endif
