/* Directory listing with getdents64: names, d_type and d_ino, excluding '.' and '..'. */
#include "common.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

struct lfs_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

typedef struct { char *name; size_t len; unsigned char type; uint64_t ino; } ent;

/* readdir(dirfd) -> { names: string[], types: Uint8Array, inos: Float64Array } | -errno
 * Opens dirfd's directory afresh ('.' with O_RDONLY|O_DIRECTORY) so the caller's fd offset is untouched
 * and O_PATH fds work. */
static LFS_FN(js_readdir) {
  LFS_ARGS(1);
  int32_t dirfd;
  if (lfs_arg_i32(env, argv[0], "dirfd", &dirfd)) return NULL;
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return lfs_errno(env);

  size_t bufsz = 64 * 1024;
  char *buf = malloc(bufsz);
  ent *ents = NULL;
  size_t n = 0, cap = 0;
  int err = 0;
  if (!buf) { err = ENOMEM; goto done; }
  for (;;) {
    long got = syscall(SYS_getdents64, fd, buf, bufsz);
    if (got < 0) { err = errno; break; }
    if (got == 0) break;
    for (long off = 0; off < got;) {
      struct lfs_dirent64 *d = (struct lfs_dirent64 *)(buf + off);
      off += d->d_reclen;
      const char *nm = d->d_name;
      if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
      if (n == cap) {
        size_t ncap = cap ? cap * 2 : 64;
        ent *ne = realloc(ents, ncap * sizeof *ents);
        if (!ne) { err = ENOMEM; goto done; }
        ents = ne; cap = ncap;
      }
      size_t l = strlen(nm);
      ents[n].name = malloc(l);
      if (!ents[n].name && l) { err = ENOMEM; goto done; }
      memcpy(ents[n].name, nm, l);
      ents[n].len = l;
      ents[n].type = d->d_type;
      ents[n].ino = d->d_ino;
      n++;
    }
  }
done:
  close(fd);
  free(buf);
  napi_value result;
  if (err) {
    result = lfs_int(env, -err);
  } else {
    napi_value names, types_ab, types, inos_ab, inos;
    void *tp, *ip;
    napi_create_array_with_length(env, n, &names);
    napi_create_arraybuffer(env, n ? n : 1, &tp, &types_ab);
    napi_create_typedarray(env, napi_uint8_array, n, types_ab, 0, &types);
    napi_create_arraybuffer(env, (n ? n : 1) * sizeof(double), &ip, &inos_ab);
    napi_create_typedarray(env, napi_float64_array, n, inos_ab, 0, &inos);
    for (size_t i = 0; i < n; i++) {
      napi_value s;
      napi_create_string_utf8(env, ents[i].name, ents[i].len, &s);
      napi_set_element(env, names, (uint32_t)i, s);
      ((unsigned char *)tp)[i] = ents[i].type;
      ((double *)ip)[i] = (double)ents[i].ino;
    }
    napi_create_object(env, &result);
    napi_set_named_property(env, result, "names", names);
    napi_set_named_property(env, result, "types", types);
    napi_set_named_property(env, result, "inos", inos);
  }
  for (size_t i = 0; i < n; i++) free(ents[i].name);
  free(ents);
  return result;
}

void lfs_init_dir(napi_env env, napi_value exports) {
  lfs_export_fn(env, exports, "readdir", js_readdir);
}
