/*
 * layerfs: the mount program's front door, in C so that a container start pays for one Node
 * start-up, not two.
 *
 * Container tools run `layerfs -o lowerdir=...,upperdir=...,workdir=... MERGED` and wait for it to
 * exit; it must exit 0 only once the mount answers, leaving the server in the background. Node
 * cannot fork, so a Node front process has to spawn a second Node (about 110 ms each here). This
 * program forks instead: the child becomes the server (setsid, exec node on dist/lib/cli/main.js
 * with LAYERFS_STATUS_FD=3), and this process waits on the status pipe:
 *   - "R" read: the mount is live and the server has let go of our stdio: exit 0;
 *   - end of file without it (an error, --help, a foreground run ending): exit with the server's
 *     status, which has already said what went wrong on the shared stderr.
 * SIGINT/SIGTERM/SIGHUP received meanwhile are passed on to the server.
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
#include <sys/stat.h>
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

int main(int argc, char **argv) {
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
    close(status[0]);
    if (status[1] != STATUS_FD) {
      if (dup2(status[1], STATUS_FD) < 0) _exit(127);
      close(status[1]);
    } else {
      fcntl(STATUS_FD, F_SETFD, 0);
    }
    setenv("LAYERFS_STATUS_FD", "3", 1);
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (args == NULL) _exit(127);
    int k = 0;
    args[k++] = node;
    args[k++] = "--max-semi-space-size=4"; /* as SERVER_NODE_FLAGS in lib/cli/mount-command.ts */
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
