// /init of the x86 lanes' initramfs (static, built by scripts/lane-lib's lane_initramfs): mounts the
// pseudo filesystems, loads kvm_amd and its dependencies with finit_module, then by the
// kernel command line's lane.mode=:
//  - scenarios (default, scripts/x86-lane): `/kvmdbg caps --probe --json` and
//    `/kvmdbg scenarios --backend kvm` on the emulated SVM;
//  - gdb (scripts/x86-gdb-lane): one `/kvmdbg gdbserver ... --backend kvm --listen /dev/ttyS1`
//    per line of /gdb-phases (`NAME ARG...`), one after another; the host's gdb ends each
//    with `kill`, a watchdog (lane.gdb_timeout= seconds) ends a phase nobody ends;
// prints markers the scripts parse, then powers the QEMU machine off.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lane-init.h"

// Loads one module; prints the errno on failure (the script fails on `lane-error:`).
static int load(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    printf("lane-error: open %s: %s\n", path, strerror(errno));
    return -1;
  }
  long r = syscall(SYS_finit_module, fd, "", 0);
  int e = errno;
  close(fd);
  if (r != 0 && e != EEXIST) {
    printf("lane-error: finit_module %s: %s\n", path, strerror(e));
    return -1;
  }
  return 0;
}

// Runs /kvmdbg with `args`, its output going to the console; returns its exit status.
// After `timeout` seconds (0: none) it is killed: SIGTERM (kvmdbg cleans up), then SIGKILL.
static int run(const char *marker, char *const args[], double timeout) {
  printf("lane-begin: %s\n", marker);
  double t0 = now();
  pid_t p = fork();
  if (p == 0) {
    char *envp[] = {"PATH=/", "LD_LIBRARY_PATH=/lib64:/lib/x86_64-linux-gnu", NULL};
    execve("/kvmdbg", args, envp);
    printf("lane-error: execve /kvmdbg: %s\n", strerror(errno));
    _exit(127);
  }
  int status = 0, signalled = 0;
  while (waitpid(p, &status, timeout > 0 ? WNOHANG : 0) == 0) {
    double t = now() - t0;
    if (t > timeout + 5 && signalled == 1) { kill(p, SIGKILL); signalled = 2; }
    if (t > timeout && !signalled) {
      printf("lane-error: %s still running after %.0f s: killed\n", marker, timeout);
      kill(p, SIGTERM);
      signalled = 1;
    }
    usleep(50 * 1000);
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("lane-end: %s status=%d seconds=%.2f\n", marker, code, now() - t0);
  return code;
}

// lane.mode=gdb: one gdbserver per /gdb-phases line, on the second serial port (ttyS1,
// which QEMU connects to a TCP socket on the host; ttyS0 stays the console).
static void gdb_phases(double timeout) {
  FILE *f = fopen("/gdb-phases", "r");
  if (!f) {
    printf("lane-error: no /gdb-phases in the initramfs\n");
    return;
  }
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    char *args[64] = {"/kvmdbg", "gdbserver"};
    int n = 2;
    char *name = strtok(line, " \n");
    if (!name || name[0] == '#') continue;
    for (char *a = strtok(NULL, " \n"); a && n < 58; a = strtok(NULL, " \n")) args[n++] = a;
    args[n++] = "--backend";
    args[n++] = "kvm";
    args[n++] = "--listen";
    args[n++] = "/dev/ttyS1";
    args[n] = NULL;
    char marker[128];
    snprintf(marker, sizeof marker, "gdb %s", name);
    printf("lane-gdb: serving %s\n", name);
    run(marker, args, timeout);
  }
  fclose(f);
  print_serial("1");
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  double t0 = now();
  mount_pseudo_filesystems();
  const char *mods[] = {"/lib/modules/irqbypass.ko", "/lib/modules/kvm.ko", "/lib/modules/ccp.ko",
                        "/lib/modules/kvm-amd.ko"};
  int ok = 1;
  for (unsigned i = 0; i < sizeof mods / sizeof *mods; i++) ok = load(mods[i]) == 0 && ok;
  struct stat st;
  if (stat("/dev/kvm", &st) != 0) {
    printf("lane-error: no /dev/kvm after loading kvm_amd\n");
    ok = 0;
  }
  printf("lane-modules: %s seconds=%.2f\n", ok ? "loaded" : "FAILED", now() - t0);
  if (ok) {
    if (strcmp(cmdline("lane.mode=", "scenarios"), "gdb") == 0) {
      gdb_phases(atof(cmdline("lane.gdb_timeout=", "240")));
    } else {
      char *caps[] = {"/kvmdbg", "caps", "--backend", "kvm", "--probe", "--json", NULL};
      run("caps", caps, 0);
      char *scen[] = {"/kvmdbg", "scenarios", "--backend", "kvm", NULL};
      // lane.repeat=N (flake hunting by hand; scripts/x86-lane compares one run): N runs,
      // each with a watchdog of lane.scenario_timeout= seconds (0, the default: none).
      int repeat = atoi(cmdline("lane.repeat=", "1"));
      double limit = atof(cmdline("lane.scenario_timeout=", "0"));
      for (int i = 0; i < (repeat > 0 ? repeat : 1); i++) run("scenarios", scen, limit);
      // Post-mortem guests (issue 20): what kvm_amd reports for a triple fault, and a #PF
      // caught at the guest's handler; scripts/x86-lane checks and prints both.
      char *tf[] = {"/kvmdbg", "run", "--guest", "triple-fault", "--backend", "kvm", "--json", NULL};
      run("crash triple-fault", tf, 60);
      char *pf[] = {"/kvmdbg", "run", "--guest", "page-fault", "--backend", "kvm", "--catch", "exception:14",
                    "--max-stops", "1", "--json", NULL};
      run("crash page-fault", pf, 60);
    }
  }
  printf("lane-done: seconds=%.2f\n", now() - t0);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
