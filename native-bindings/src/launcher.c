/*
 * layerfs: the mount program's front door, in C so that a container start pays for one Node
 * start-up, not two.
 *
 * Container tools run `layerfs -o lowerdir=...,upperdir=...,workdir=... MERGED` and wait for it to
 * exit; it must exit 0 only once the mount answers, leaving the server in the background. Node
 * cannot fork, so a Node front process has to spawn a second Node (docs/benchmarks.md). This
 * program forks instead: the child becomes the server (setsid, exec node on dist/lib/cli/main.js
 * with LAYERFS_STATUS_FD=3), and this process waits on the status pipe:
 *   - "R" read: the mount is live and the server has let go of our stdio: exit 0;
 *   - end of file without it (an error, --help, a foreground run ending): exit with the server's
 *     status, which has already said what went wrong on the shared stderr.
 * SIGINT/SIGTERM/SIGHUP received meanwhile are passed on to the server.
 *
 * Before that, it asks the mount service (lib/cli/service.ts) if one runs for this user: a server
 * already up mounts it in its own thread, with no start-up at all. The service answers 'R'
 * (mounted), 'E' (failed; the error follows) or 'N' (not for it: -f, -d, other commands).
 *
 * Node: $LAYERFS_NODE, else `node` in $PATH, else /usr/local/bin/node, /usr/bin/node.
 * Script: $LAYERFS_MAIN, else ../../../dist/lib/cli/main.js from this executable (it is built in
 * native-bindings/build/Release/).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_FD 3

static pid_t server = -1;

static void forward(int sig) {
  if (server > 0) kill(server, sig);
}

static int executable(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static int find_node(char *out, size_t n) {
  const char *env = getenv("LAYERFS_NODE");
  if (env != NULL && *env != '\0') {
    snprintf(out, n, "%s", env);
    return executable(out) ? 0 : -1;
  }
  const char *path = getenv("PATH");
  if (path != NULL) {
    char *copy = strdup(path), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
      snprintf(out, n, "%s/node", *dir ? dir : ".");
      if (executable(out)) { free(copy); return 0; }
    }
    free(copy);
  }
  static const char *fallbacks[] = { "/usr/local/bin/node", "/usr/bin/node" };
  for (size_t i = 0; i < sizeof fallbacks / sizeof *fallbacks; i++) {
    snprintf(out, n, "%s", fallbacks[i]);
    if (executable(out)) return 0;
  }
  return -1;
}

static int find_main(char *out, size_t n) {
  const char *env = getenv("LAYERFS_MAIN");
  if (env != NULL && *env != '\0') {
    snprintf(out, n, "%s", env);
    return access(out, R_OK);
  }
  char self[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len < 0) return -1;
  self[len] = '\0';
  snprintf(out, n, "%s/../../../dist/lib/cli/main.js", dirname(self));
  return access(out, R_OK);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The mount service's answer to this command line: an exit status, or -1 to run it ourselves. */
static int try_service(int argc, char **argv) {
  const char *off = getenv("LAYERFS_NO_SERVICE");
  if (off != NULL && strcmp(off, "1") == 0) return -1;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  int n;
  const char *own = getenv("LAYERFS_RUNTIME_DIR"); /* as serviceSocketPath() in lib/cli/service.ts */
  if (own != NULL && *own != '\0') {
    n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/service.sock", own);
  } else if (geteuid() == 0) {
    n = snprintf(addr.sun_path, sizeof addr.sun_path, "/run/layerfs/service.sock");
  } else {
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg == NULL || *xdg == '\0') return -1;
    n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/layerfs/service.sock", xdg);
  }
  if (n < 0 || (size_t)n >= sizeof addr.sun_path) return -1;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(s); /* no service (or a dead one's socket): start our own server */
    return -1;
  }
  char cwd[PATH_MAX];
  int ok = getcwd(cwd, sizeof cwd) != NULL && write_all(s, "LFS1", 5) == 0 && write_all(s, cwd, strlen(cwd) + 1) == 0;
  for (int i = 1; ok && i < argc; i++) ok = write_all(s, argv[i], strlen(argv[i]) + 1) == 0;
  if (!ok || shutdown(s, SHUT_WR) != 0) {
    close(s);
    return -1; /* nothing was asked of it: run it ourselves */
  }
  static char reply[65536];
  size_t got = 0;
  for (;;) {
    struct pollfd p = { .fd = s, .events = POLLIN };
    int pr = poll(&p, 1, 120000);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      fprintf(stderr, "layerfs: the mount service did not answer in 120 s\n");
      close(s);
      return 1;
    }
    ssize_t r = read(s, reply + got, sizeof reply - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
    if (got == sizeof reply - 1) break;
  }
  close(s);
  if (got == 0) {
    /* It had the request and said nothing: it may have mounted before it died. Mounting again
       could stack a second mount on the first; say so instead. */
    fprintf(stderr, "layerfs: the mount service ended without an answer (see its log); run again with LAYERFS_NO_SERVICE=1 to mount without it\n");
    return 1;
  }
  if (reply[0] == 'N') return -1;
  if (got > 1) fwrite(reply + 1, 1, got - 1, stderr);
  return reply[0] == 'R' ? 0 : 1;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int served = try_service(argc, argv);
  if (served >= 0) return served;

  char node[PATH_MAX], script[PATH_MAX];
  if (find_node(node, sizeof node) != 0) {
    fprintf(stderr, "layerfs: node not found (set LAYERFS_NODE or put node in PATH)\n");
    return 1;
  }
  if (find_main(script, sizeof script) != 0) {
    fprintf(stderr, "layerfs: %s: not found (set LAYERFS_MAIN, or run `npm run build`)\n", script);
    return 1;
  }

  int status[2];
  if (pipe2(status, O_CLOEXEC) != 0) {
    perror("layerfs: pipe");
    return 1;
  }
  server = fork();
  if (server < 0) {
    perror("layerfs: fork");
    return 1;
  }
  if (server == 0) {
    // The server: its own session (it outlives us and must not get the terminal's signals),
    // the status pipe's write end as fd 3.
    setsid();
    signal(SIGPIPE, SIG_DFL);
    close(status[0]);
    if (status[1] != STATUS_FD) {
      if (dup2(status[1], STATUS_FD) < 0) _exit(127);
      close(status[1]);
    } else {
      fcntl(STATUS_FD, F_SETFD, 0);
    }
    setenv("LAYERFS_STATUS_FD", "3", 1);
    char **args = calloc((size_t)argc + 5, sizeof *args);
    if (args == NULL) _exit(127);
    int k = 0;
    args[k++] = node;
    /* as SERVER_NODE_FLAGS in lib/cli/mount-command.ts */
    args[k++] = "--max-semi-space-size=4";
    args[k++] = "--heap-growing-percent=25";
    args[k++] = script;
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    execv(node, args);
    fprintf(stderr, "layerfs: exec %s: %s\n", node, strerror(errno));
    _exit(127);
  }
  close(status[1]);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  char c = 0;
  ssize_t r;
  do r = read(status[0], &c, 1); while (r < 0 && errno == EINTR);
  if (r == 1 && c == 'R') return 0;

  int ws = 0;
  pid_t w;
  do w = waitpid(server, &ws, 0); while (w < 0 && errno == EINTR);
  if (w < 0) return 1;
  if (WIFEXITED(ws)) return WEXITSTATUS(ws);
  if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
  return 1;
}
