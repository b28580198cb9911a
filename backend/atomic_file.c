/* atomic_file.c - temporary file, fsync, rename (see atomic_file.h).
 *
 * The temporary is created with O_EXCL under a name unique to this process
 * and call, with mode 0666 filtered by the umask like any new file.
 */
#include "backend/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_uint tmp_counter;

static void release(AtomicFile *af)
{
    free(af->path);
    free(af->tmp_path);
    *af = (AtomicFile){0};
}

/* Opens "<dir>/.<base>.tmp-<pid>-<n>" exclusively, trying a few n. */
static int open_temp(const char *path, char **tmp_out)
{
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    size_t cap = strlen(path) + 64;
    char *tmp = malloc(cap);
    if (!tmp)
        return -1;
    for (int tries = 0; tries < 100; tries++) {
        unsigned n = atomic_fetch_add(&tmp_counter, 1);
        snprintf(tmp, cap, "%.*s.%s.tmp-%ld-%u", dir_len, path, base, (long)getpid(), n);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_out = tmp;
            return fd;
        }
        if (errno != EEXIST)
            break;
    }
    int saved = errno;
    free(tmp);
    errno = saved;
    return -1;
}

Status atomic_file_open(AtomicFile *af, const char *path, Diag *d)
{
    *af = (AtomicFile){0};
    const char *slash = strrchr(path, '/');
    if (!*path || (slash && !slash[1]))
        return diag_error(d, "%s: not a file name", path);
    int fd = open_temp(path, &af->tmp_path);
    if (fd < 0)
        return diag_error(d, "%s: cannot create a file in its folder: %s", path, strerror(errno));
    af->path = strdup(path);
    af->f = fdopen(fd, "wb");
    if (!af->f || !af->path) {
        if (!af->f)
            close(fd);
        unlink(af->tmp_path);
        release(af);
        return diag_error(d, "%s: out of memory", path);
    }
    return KDC_OK;
}

void atomic_file_abort(AtomicFile *af)
{
    if (af->f)
        fclose(af->f);
    if (af->tmp_path)
        unlink(af->tmp_path);
    release(af);
}

/* Makes the rename itself durable; best effort, as some file systems
 * cannot fsync a directory and the data is already safe by then. */
static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + 1) : strdup(".");
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

Status atomic_file_commit(AtomicFile *af, Diag *d)
{
    const char *step = "write";
    errno = 0;
    if (ferror(af->f) || fflush(af->f))
        goto fail;
    step = "fsync";
    if (fsync(fileno(af->f)))
        goto fail;
    step = "close";
    FILE *f = af->f;
    af->f = NULL;
    if (fclose(f))
        goto fail;
    step = "rename";
    if (rename(af->tmp_path, af->path))
        goto fail;
    sync_folder(af->path);
    release(af);
    return KDC_OK;
fail:
    diag_error(d, "%s: %s failed: %s", af->path, step, errno ? strerror(errno) : "I/O error");
    atomic_file_abort(af);
    return KDC_ERR;
}

Status atomic_file_write(const char *path, const void *data, size_t len, Diag *d)
{
    AtomicFile af;
    if (atomic_file_open(&af, path, d))
        return KDC_ERR;
    if (len && fwrite(data, 1, len, af.f) != len) {
        diag_error(d, "%s: write failed: %s", path, strerror(errno));
        atomic_file_abort(&af);
        return KDC_ERR;
    }
    return atomic_file_commit(&af, d);
}
