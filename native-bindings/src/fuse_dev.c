/* /dev/fuse transport: open, mount(2)/umount2(2), mounting through fusermount3, request readers, reply writes and the
 * passthrough ioctls. Every syscall wrapper returns its result or -errno (never throws).
 *
 * Reader (no mutable globals; all state lives in a per-reader struct owned by its handle): a
 * uv_poll_t on the nonblocking fd in the env's event loop; when readable it reads requests until
 * EAGAIN and calls the JS callback once per request, on the JS thread.
 * Callback contract: cb(buf, len) per request; cb(null, 0) once when the filesystem
 * went away (ENODEV); cb(null, -errno) once on any other fatal read error. After the end call the
 * reader has stopped itself (fuseStopReader is then a no-op). */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <uv.h>

extern char **environ;

/* Defined here: the system headers (fuse.h 7.38) predate the passthrough ioctls. */
struct lfs_fuse_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define LFS_FUSE_DEV_IOC_MAGIC 229
#define LFS_FUSE_DEV_IOC_BACKING_OPEN _IOW(LFS_FUSE_DEV_IOC_MAGIC, 1, struct lfs_fuse_backing_map)
#define LFS_FUSE_DEV_IOC_BACKING_CLOSE _IOW(LFS_FUSE_DEV_IOC_MAGIC, 2, uint32_t)

#ifndef MNT_EXPIRE
#define MNT_EXPIRE 4
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif

/* ---- plain syscalls ---- */

/* fuseOpen() -> fd | -errno */
static LFS_FN(js_fuse_open) {
  (void)info;
  int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  return fd < 0 ? lfs_errno(env) : lfs_int(env, fd);
}

/* fuseMount(source, target, fstype, flags, data) -> 0 | -errno */
static LFS_FN(js_fuse_mount) {
  LFS_ARGS(5);
  int64_t flags;
  LFS_STR(src, 0, "source");
  LFS_STR(tgt, 1, "target");
  LFS_STR(fst, 2, "fstype");
  LFS_STR(data, 4, "data");
  napi_value r = NULL;
  if (lfs_arg_i64(env, argv[3], "flags", &flags) == 0) {
    if (src.has_nul || tgt.has_nul || fst.has_nul || data.has_nul) r = lfs_int(env, -EINVAL);
    else r = lfs_int(env, mount(src.s, tgt.s, fst.s, (unsigned long)flags, data.s) < 0 ? -errno : 0);
  }
  lfs_str_free(&src); lfs_str_free(&tgt); lfs_str_free(&fst); lfs_str_free(&data);
  return r;
}

/* umount2(target, flags) -> 0 | -errno */
static LFS_FN(js_umount2) {
  LFS_ARGS(2);
  int32_t flags;
  if (lfs_arg_i32_opt(env, argv[1], "flags", 0, &flags)) return NULL;
  LFS_STR(tgt, 0, "target");
  LFS_NUL_CHECK(tgt);
  int r = umount2(tgt.s, flags) < 0 ? -errno : 0;
  lfs_str_free(&tgt);
  return lfs_int(env, r);
}

/* fuseWrite(fd, buf) -> bytes | -errno */
static LFS_FN(js_fuse_write) {
  LFS_ARGS(2);
  int32_t fd; void *data; size_t len;
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_buf(env, argv[1], "buf", &data, &len)) return NULL;
  ssize_t n = write(fd, data, len);
  return lfs_int(env, n < 0 ? -errno : n);
}

#define LFS_MAX_IOV 64

/* fuseWritev(fd, [bufs]) -> bytes | -errno (one message: the kernel wants a reply in one write) */
static LFS_FN(js_fuse_writev) {
  LFS_ARGS(2);
  int32_t fd; uint32_t n; bool is_arr = false;
  if (lfs_arg_i32(env, argv[0], "fd", &fd)) return NULL;
  napi_is_array(env, argv[1], &is_arr);
  if (!is_arr) { napi_throw_type_error(env, NULL, "bufs must be an array of Buffers"); return NULL; }
  napi_get_array_length(env, argv[1], &n);
  if (n > LFS_MAX_IOV) return lfs_int(env, -EINVAL);
  struct iovec iov[LFS_MAX_IOV];
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok) return NULL;
    if (lfs_arg_buf(env, el, "bufs[i]", &iov[i].iov_base, &iov[i].iov_len)) return NULL;
  }
  ssize_t r = writev(fd, iov, (int)n);
  return lfs_int(env, r < 0 ? -errno : r);
}

/* Sets (on) or clears (off) CAP_FSETID in this thread's effective set; returns whether it was set. */
static bool lfs_thread_fsetid(bool on) {
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) return false;
  bool was = (d[0].effective & (1u << CAP_FSETID)) != 0;
  if (was == on) return was;
  if (on) d[0].effective |= 1u << CAP_FSETID;
  else d[0].effective &= ~(1u << CAP_FSETID);
  syscall(SYS_capset, &h, d);
  return was;
}

/* fuseBackingOpen(devFd, fileFd) -> backing id (> 0) | -errno
 * The kernel writes to a backing file with the credentials of the thread that registered it. They
 * lack CAP_FSETID here, so a passthrough write clears set-ID bits as an unprivileged write does
 * (the server's own root credentials would keep them): the file system serves writes to set-ID
 * files itself (lib/mount/setid.ts), this is for a file that became set-ID while open. */
static LFS_FN(js_fuse_backing_open) {
  LFS_ARGS(2);
  int32_t dev, fd;
  if (lfs_arg_i32(env, argv[0], "devFd", &dev) || lfs_arg_i32(env, argv[1], "fileFd", &fd)) return NULL;
  struct lfs_fuse_backing_map map;
  memset(&map, 0, sizeof map);
  map.fd = fd;
  bool had = lfs_thread_fsetid(false);
  int r = ioctl(dev, LFS_FUSE_DEV_IOC_BACKING_OPEN, &map);
  int err = errno;
  if (had) lfs_thread_fsetid(true);
  return lfs_int(env, r < 0 ? -err : r);
}

/* fuseBackingClose(devFd, backingId) -> 0 | -errno */
static LFS_FN(js_fuse_backing_close) {
  LFS_ARGS(2);
  int32_t dev; uint32_t id;
  if (lfs_arg_i32(env, argv[0], "devFd", &dev) || lfs_arg_u32(env, argv[1], "backingId", &id)) return NULL;
  int r = ioctl(dev, LFS_FUSE_DEV_IOC_BACKING_CLOSE, &id);
  return lfs_int(env, r < 0 ? -errno : r);
}

/* ---- unprivileged mount through fusermount3 (libfuse's _FUSE_COMMFD protocol) ----
 * fusermount3 (setuid root) opens /dev/fuse, mounts it on the mountpoint with the given options and
 * sends the open fd back over the socket named by _FUSE_COMMFD (one byte of data, the fd as
 * SCM_RIGHTS), then exits. Its stderr is captured through a pipe for the error message. */

/* one fd in SCM_RIGHTS over sock; fd | -1 when none came (peer closed: fusermount3 failed) */
static int recv_fd(int sock) {
  char byte;
  struct iovec iov = { &byte, 1 };
  union { struct cmsghdr h; char space[CMSG_SPACE(sizeof(int))]; } ctl;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  memset(&ctl, 0, sizeof ctl);
  msg.msg_iov = &iov; msg.msg_iovlen = 1;
  msg.msg_control = ctl.space; msg.msg_controllen = sizeof ctl.space;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  int fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      break;
    }
  }
  return fd;
}

/* fuseMountFusermount(program, mountpoint, opts) -> { fd, stderr }: fd is the mounted /dev/fuse fd
 * (O_NONBLOCK|O_CLOEXEC) or -errno: -ENOENT when program could not be run, -EPERM when it refused
 * (its message is in stderr), -EIO when it exited 0 without sending an fd. Blocks until
 * fusermount3 is done (it does not wait for FUSE INIT). */
static LFS_FN(js_fuse_mount_fusermount) {
  LFS_ARGS(3);
  LFS_STR(prog, 0, "program");
  char mp_stack_[LFS_PATH_STACK]; lfs_str mp;
  if (lfs_arg_str(env, argv[1], "mountpoint", mp_stack_, sizeof mp_stack_, &mp)) { lfs_str_free(&prog); return NULL; }
  char opts_stack_[LFS_PATH_STACK]; lfs_str opts;
  if (lfs_arg_str(env, argv[2], "opts", opts_stack_, sizeof opts_stack_, &opts)) { lfs_str_free(&prog); lfs_str_free(&mp); return NULL; }

  int result = 0;
  char errbuf[4096];
  size_t errlen = 0;
  int sv[2] = { -1, -1 }, ep[2] = { -1, -1 };
  char **envp = NULL;
  char commfd[32];
  if (prog.has_nul || mp.has_nul || opts.has_nul) { result = -EINVAL; goto out; }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(ep, O_CLOEXEC) < 0) { result = -errno; goto out; }

  /* everything the child needs is built before fork: between fork and exec only async-signal-safe calls */
  size_t n = 0;
  while (environ && environ[n]) n++;
  envp = malloc((n + 2) * sizeof *envp);
  if (!envp) { result = -ENOMEM; goto out; }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) if (strncmp(environ[i], "_FUSE_COMMFD=", 13) != 0) envp[k++] = environ[i];
  snprintf(commfd, sizeof commfd, "_FUSE_COMMFD=%d", sv[0]);
  envp[k++] = commfd;
  envp[k] = NULL;
  char *args[] = { prog.s, (char *)"-o", opts.s, (char *)"--", mp.s, NULL };
  sigset_t none;
  sigemptyset(&none);

  pid_t pid = fork();
  if (pid < 0) { result = -errno; goto out; }
  if (pid == 0) {
    /* child: no signal blocked (a worker thread may block some), sv[0] kept across exec, stderr into the pipe */
    sigprocmask(SIG_SETMASK, &none, NULL);
    int fl = fcntl(sv[0], F_GETFD);
    if (fl >= 0) fcntl(sv[0], F_SETFD, fl & ~FD_CLOEXEC);
    if (ep[1] != STDERR_FILENO) dup2(ep[1], STDERR_FILENO);
    execve(prog.s, args, envp);
    static const char msg[] = "cannot execute fusermount3\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
  }
  close(sv[0]); sv[0] = -1;
  close(ep[1]); ep[1] = -1;
  int fd = recv_fd(sv[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  /* the child is gone: whatever it wrote is in the pipe (messages are far below the pipe size) */
  int pfl = fcntl(ep[0], F_GETFL);
  if (pfl >= 0) fcntl(ep[0], F_SETFL, pfl | O_NONBLOCK);
  for (;;) {
    ssize_t r = read(ep[0], errbuf + errlen, sizeof errbuf - 1 - errlen);
    if (r > 0) { errlen += (size_t)r; if (errlen >= sizeof errbuf - 1) break; continue; }
    if (r < 0 && errno == EINTR) continue;
    break;
  }
  if (fd >= 0) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    result = fd;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    result = -ENOENT;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    result = -EIO;
  } else {
    result = -EPERM;
  }
out:
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  if (ep[0] >= 0) close(ep[0]);
  if (ep[1] >= 0) close(ep[1]);
  free(envp);
  lfs_str_free(&prog); lfs_str_free(&mp); lfs_str_free(&opts);
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "fd", lfs_int(env, result));
  napi_create_string_utf8(env, errbuf, errlen, &v);
  napi_set_named_property(env, obj, "stderr", v);
  return obj;
}

/* ---- readers ---- */

typedef struct reader {
  napi_env env;
  int fd;
  size_t bufsize;
  int stopped;                 /* JS thread only */
  uv_poll_t poll;
  napi_ref cb;
  napi_async_context actx;
  unsigned char *buf;          /* reused read buffer (copy mode) or backing of view */
  napi_ref view;               /* external Buffer over buf (view mode), or NULL */
  long spin_us;                /* > 0: wait for the next request inside the callback (see on_readable),
                                  looking for a back-to-back one this long before sleeping */
  int back_to_back;            /* the last request came within 4 * spin_us of our previous reply */
  int64_t replied_ns;
  uv_loop_t *loop;
  /* the JS handle's box (cleared when either side goes away) and the env cleanup hook */
  struct reader_box *box;
  int hook;
} reader;

/* the JS handle: an external holding a pointer to a small box, so a stop after the reader ended is safe */
typedef struct reader_box { reader *r; } reader_box;

static void env_cleanup(void *arg);

/* unlink the reader from its JS handle and the env cleanup hook (JS thread) */
static void reader_detach(reader *r) {
  if (r->box) { r->box->r = NULL; r->box = NULL; }
  if (r->hook) { r->hook = 0; napi_remove_env_cleanup_hook(r->env, env_cleanup, r); }
}

static void call_js(napi_env env, napi_value cb, napi_value recv, reader *r, napi_value buf, int64_t len) {
  napi_value args[2];
  args[0] = buf;
  args[1] = lfs_int(env, len);
  napi_value result;
  if (r->actx) napi_make_callback(env, r->actx, recv, cb, 2, args, &result);
  else napi_call_function(env, recv, cb, 2, args, &result);
  /* an exception thrown by the callback is reported as uncaught by Node; keep reading */
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void poll_closed(uv_handle_t *h) {
  reader *r = (reader *)h->data;
  free(r->buf);
  free(r);
}

static void poll_reader_release(reader *r) {
  if (r->stopped) return;
  r->stopped = 1;
  reader_detach(r);
  uv_poll_stop(&r->poll);
  if (r->view) napi_delete_reference(r->env, r->view);
  if (r->cb) napi_delete_reference(r->env, r->cb);
  if (r->actx) napi_async_destroy(r->env, r->actx);
  r->view = NULL; r->cb = NULL; r->actx = NULL;
  /* freed once libuv has closed the handle; the napi_external keeps only a dangling-safe flag */
  uv_close((uv_handle_t *)&r->poll, poll_closed);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)status; (void)events;
  reader *r = (reader *)h->data;
  napi_env env = r->env;
  if (r->stopped) return;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  /* fetched once per wake-up: the loop below may serve thousands of requests (see the spin) */
  napi_value cb, recv, view = NULL;
  napi_get_reference_value(env, r->cb, &cb);
  napi_get_global(env, &recv);
  if (r->view) napi_get_reference_value(env, r->view, &view);
  for (;;) {
    if (r->stopped) break;
    ssize_t n = read(r->fd, r->buf, r->bufsize);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n > 0 && r->replied_ns != 0) r->back_to_back = now_ns() - r->replied_ns < 4 * r->spin_us * 1000;
    napi_value buf;
    if (n < 0) {
      int e = errno;
      napi_get_null(env, &buf);
      poll_reader_release(r);   /* before the call: the callback may close the fd */
      call_js(env, cb, recv, r, buf, e == ENODEV ? 0 : -e);
      break;
    }
    /* a scope per request: without it the handles of every request served in this loop stay
       live (and are scanned by each garbage collection) until the loop returns to libuv */
    napi_handle_scope one;
    napi_open_handle_scope(env, &one);
    if (view) buf = view;
    else {
      void *dst;
      napi_create_buffer_copy(env, (size_t)n, r->buf, &dst, &buf);
    }
    call_js(env, cb, recv, r, buf, n);
    napi_close_handle_scope(env, one);
    if (r->spin_us > 0 && !r->stopped) {
      /*
       * Nothing else to read now. Rather than going back through libuv (a read that says EAGAIN,
       * then two epoll_wait calls) wait here for the next request, in one poll() on the FUSE fd and
       * on libuv's own epoll fd: as soon as anything else needs the loop (a thread-pool completion,
       * a signal, a message, a timer due) we return to it.
       */
      int timeout = uv_backend_timeout(r->loop);
      if (timeout == 0) continue; /* pending work: the next read returns EAGAIN and we leave */
      /*
       * A caller that sends its requests back to back (a create: GETATTR, LOOKUP, CREATE, ...) sends
       * the next one within microseconds of our reply. Sleeping in poll() means a wake-up on
       * another CPU for it (costly on paravirtualized machines), so we first look for it for up to
       * spin_us (docs/benchmarks.md, Design figures). Only while requests do
       * come back to back: a spin that found nothing is not repeated until they do again.
       */
      r->replied_ns = now_ns();
      if (r->back_to_back) {
        int got = 0;
        for (;;) {
          struct pollfd one = { .fd = r->fd, .events = POLLIN };
          if (poll(&one, 1, 0) > 0) { got = 1; break; }
          if (now_ns() - r->replied_ns > r->spin_us * 1000) break;
        }
        if (got) continue;
      }
      struct pollfd pfd[2] = { { .fd = r->fd, .events = POLLIN }, { .fd = uv_backend_fd(r->loop), .events = POLLIN } };
      int pr;
      do pr = poll(pfd, 2, timeout); while (pr < 0 && errno == EINTR);
      if (pr <= 0) break;
      if (pfd[1].revents && !(pfd[0].revents & POLLIN)) break;
    }
  }
  napi_close_handle_scope(env, scope);
}

static void box_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  reader_box *box = (reader_box *)data;
  if (box->r) box->r->box = NULL;   /* handle dropped: the reader keeps running until ENODEV */
  free(box);
}

static void reader_stop(reader *r) {
  poll_reader_release(r);
}

static void env_cleanup(void *arg) {
  reader *r = (reader *)arg;
  r->hook = 0;
  reader_stop(r);
}

/* fuseStartReader(fd, bufSize, callback, mode) mode: 'copy' (default) | 'view' -> handle */
static LFS_FN(js_fuse_start_reader) {
  LFS_ARGS(4);
  int32_t fd; uint32_t bufsize;
  char mode[16] = "copy";
  if (lfs_arg_i32(env, argv[0], "fd", &fd) || lfs_arg_u32(env, argv[1], "bufSize", &bufsize)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) { napi_throw_type_error(env, NULL, "callback must be a function"); return NULL; }
  napi_typeof(env, argv[3], &t);
  if (t == napi_string) {
    size_t l;
    napi_get_value_string_utf8(env, argv[3], mode, sizeof mode, &l);
  }
  int view = strcmp(mode, "view") == 0;
  if (!view && strcmp(mode, "copy") != 0) {
    napi_throw_type_error(env, NULL, "mode must be 'copy' or 'view'");
    return NULL;
  }
  if (bufsize < 8192) bufsize = 8192;

  reader *r = calloc(1, sizeof *r);
  reader_box *box = calloc(1, sizeof *box);
  if (!r || !box) { free(r); free(box); return lfs_int(env, -ENOMEM); }
  r->env = env; r->fd = fd; r->bufsize = bufsize;
  box->r = r;
  napi_value name;
  napi_create_string_utf8(env, "layerfs:fuse-reader", NAPI_AUTO_LENGTH, &name);

  r->buf = malloc(bufsize);
  if (!r->buf) { free(r); free(box); return lfs_int(env, -ENOMEM); }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  r->loop = loop;
  /* LAYERFS_READER_SPIN=0 turns both off (the plain libuv-driven reader), N sets the spin in us */
  const char *spin = getenv("LAYERFS_READER_SPIN");
  r->spin_us = spin != NULL ? atol(spin) : 30;
  int e = uv_poll_init(loop, &r->poll, fd);
  if (e) { free(r->buf); free(r); free(box); return lfs_int(env, e); }
  r->poll.data = r;
  napi_create_reference(env, argv[2], 1, &r->cb);
  napi_async_init(env, NULL, name, &r->actx);
  if (view) {
    /* the Buffer aliases r->buf; it is valid only during the callback (the next read overwrites it) */
    napi_value vb;
    if (napi_create_external_buffer(env, bufsize, r->buf, NULL, NULL, &vb) != napi_ok) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      poll_reader_release(r); free(box);
      return lfs_int(env, -ENOTSUP);
    }
    napi_create_reference(env, vb, 1, &r->view);
  }
  e = uv_poll_start(&r->poll, UV_READABLE | UV_DISCONNECT, on_readable);
  if (e) { poll_reader_release(r); free(box); return lfs_int(env, e); }
  napi_add_env_cleanup_hook(env, env_cleanup, r);
  r->hook = 1;
  r->box = box;
  napi_value handle;
  napi_create_external(env, box, box_finalize, NULL, &handle);
  return handle;
}

/* fuseStopReader(handle): stops reading; idempotent */
static LFS_FN(js_fuse_stop_reader) {
  LFS_ARGS(1);
  void *p = NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "handle must be a reader handle");
    return NULL;
  }
  reader_box *box = (reader_box *)p;
  if (box->r) reader_stop(box->r);
  return lfs_undef(env);
}

void lfs_init_fuse(napi_env env, napi_value exports) {
  lfs_export_fn(env, exports, "fuseOpen", js_fuse_open);
  lfs_export_fn(env, exports, "fuseMount", js_fuse_mount);
  lfs_export_fn(env, exports, "umount2", js_umount2);
  lfs_export_fn(env, exports, "fuseMountFusermount", js_fuse_mount_fusermount);
  lfs_export_fn(env, exports, "fuseWrite", js_fuse_write);
  lfs_export_fn(env, exports, "fuseWritev", js_fuse_writev);
  lfs_export_fn(env, exports, "fuseBackingOpen", js_fuse_backing_open);
  lfs_export_fn(env, exports, "fuseBackingClose", js_fuse_backing_close);
  lfs_export_fn(env, exports, "fuseStartReader", js_fuse_start_reader);
  lfs_export_fn(env, exports, "fuseStopReader", js_fuse_stop_reader);

  napi_value m;
  napi_create_object(env, &m);
  napi_set_named_property(env, exports, "MNT", m);
  lfs_set_i64(env, m, "FORCE", MNT_FORCE);
  lfs_set_i64(env, m, "DETACH", MNT_DETACH);
  lfs_set_i64(env, m, "EXPIRE", MNT_EXPIRE);
  lfs_set_i64(env, m, "UMOUNT_NOFOLLOW", UMOUNT_NOFOLLOW);
  napi_value ms;
  napi_create_object(env, &ms);
  napi_set_named_property(env, exports, "MS", ms);
  lfs_set_i64(env, ms, "RDONLY", MS_RDONLY);
  lfs_set_i64(env, ms, "NOSUID", MS_NOSUID);
  lfs_set_i64(env, ms, "NODEV", MS_NODEV);
  lfs_set_i64(env, ms, "NOEXEC", MS_NOEXEC);
  lfs_set_i64(env, ms, "NOATIME", MS_NOATIME);
  lfs_set_i64(env, ms, "NODIRATIME", MS_NODIRATIME);
  lfs_set_i64(env, ms, "DIRSYNC", MS_DIRSYNC);
  lfs_set_i64(env, ms, "SYNCHRONOUS", MS_SYNCHRONOUS);
  lfs_set_i64(env, ms, "LAZYTIME", MS_LAZYTIME);
}
