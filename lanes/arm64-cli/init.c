// /init of the arm64 CLI lane's initramfs (static, built by scripts/arm64-cli-lane): mounts the
// pseudo filesystems, then runs the real `kvmdbg` binary (/kvmdbg, cross-built with its runtime
// under /lib) once per line of /cli-plan, on the guest kernel's arm64 KVM:
//   run NAME ARG...   `/kvmdbg ARG... --backend kvm`, stdout and stderr through one pipe, each
//                     line printed as `@cli/NAME LINE`, then `@cli/NAME exit=CODE` (the host runs
//                     the same command on the fake backend and compares, scripts/lane-compare);
//   gdb NAME ARG...   `/kvmdbg gdbserver ARG... --backend kvm --listen /dev/ttyS0` (the PCI 16550
//                     whose other end is the host's gdb-multiarch), until gdb's `kill` ends it;
// each under a watchdog (lane.timeout= seconds: SIGTERM, then SIGKILL), then powers off.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lane-init.h"

static int errors;

// Runs /kvmdbg with `args`; its output lines are printed after `prefix`. Returns the exit
// status (128 + signal when killed). The watchdog: SIGTERM after `timeout` s, SIGKILL 5 s later.
static int run(const char *prefix, char *const args[], double timeout) {
  int p[2];
  if (pipe(p) != 0) {
    printf("lane-error: pipe: %s\n", strerror(errno));
    errors++;
    return -1;
  }
  double t0 = now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    char *envp[] = {"PATH=/", "HOME=/", NULL};
    execve("/kvmdbg", args, envp);
    printf("lane-error: execve /kvmdbg: %s\n", strerror(errno));
    _exit(127);
  }
  close(p[1]);
  char line[8192];
  size_t len = 0;
  int signalled = 0, open_pipe = 1;
  while (open_pipe) {
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    int r = poll(&pf, 1, 100);
    double t = now() - t0;
    if (t > timeout && !signalled) {
      printf("lane-error: %s still running after %.0f s: killed\n", prefix, timeout);
      errors++;
      kill(pid, SIGTERM);
      signalled = 1;
    } else if (t > timeout + 5 && signalled == 1) {
      kill(pid, SIGKILL);
      signalled = 2;
    }
    if (r <= 0) continue;
    char c;
    ssize_t n = read(p[0], &c, 1);
    if (n <= 0) {
      open_pipe = 0;
      c = '\n';
      if (len == 0) break;
    }
    if (c == '\n' || len == sizeof line - 1) {
      line[len] = 0;
      printf("%s %s\n", prefix, line);
      len = 0;
    } else {
      line[len++] = c;
    }
  }
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("lane-time: %s seconds=%.2f\n", prefix, now() - t0);
  return code;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  double t0 = now();
  mount_pseudo_filesystems();
  struct utsname u;
  if (uname(&u) == 0) printf("lane-kernel: %s %s %s %s\n", u.sysname, u.release, u.version, u.machine);
  struct stat st;
  if (stat("/dev/kvm", &st) != 0) {
    printf("lane-error: no /dev/kvm in the lane's guest\n");
    errors++;
  }
  double timeout = atof(cmdline("lane.timeout=", "120"));
  FILE *f = errors ? NULL : fopen("/cli-plan", "r");
  if (!f && !errors) {
    printf("lane-error: no /cli-plan in the initramfs\n");
    errors++;
  }
  char plan[1024];
  while (f && fgets(plan, sizeof plan, f)) {
    char *args[64] = {"/kvmdbg"};
    int n = 1;
    char *mode = strtok(plan, " \n");
    char *name = strtok(NULL, " \n");
    if (!mode || mode[0] == '#' || !name) continue;
    int gdb = strcmp(mode, "gdb") == 0;
    if (gdb) args[n++] = "gdbserver";
    for (char *a = strtok(NULL, " \n"); a && n < 58; a = strtok(NULL, " \n")) args[n++] = a;
    args[n++] = "--backend";
    args[n++] = "kvm";
    if (gdb) {
      args[n++] = "--listen";
      args[n++] = "/dev/ttyS0";
    }
    args[n] = NULL;
    char prefix[160];
    snprintf(prefix, sizeof prefix, gdb ? "lane-gdb-out: %s" : "@cli/%s", name);
    if (gdb) printf("lane-gdb: serving %s\n", name);
    int code = run(prefix, args, timeout);
    if (gdb) {
      printf("lane-gdb: %s ended exit=%d\n", name, code);
    } else {
      printf("%s exit=%d\n", prefix, code);
    }
  }
  if (f) fclose(f);
  print_serial("0");
  printf("lane-done: errors=%d seconds=%.2f\n", errors, now() - t0);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
