// /init of the x86 lane's initramfs (static, built by scripts/x86-lane): mounts the
// pseudo filesystems, loads kvm_amd and its dependencies with finit_module, runs
// `/kvmdbg caps --probe --json` and `/kvmdbg scenarios --backend kvm` on the emulated
// SVM, prints markers the script parses, then powers the QEMU machine off.
#define _GNU_SOURCE
#include <errno.h>
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

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

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
static int run(const char *marker, char *const args[]) {
  printf("lane-begin: %s\n", marker);
  double t0 = now();
  pid_t p = fork();
  if (p == 0) {
    char *envp[] = {"PATH=/", "LD_LIBRARY_PATH=/lib64:/lib/x86_64-linux-gnu", NULL};
    execve("/kvmdbg", args, envp);
    printf("lane-error: execve /kvmdbg: %s\n", strerror(errno));
    _exit(127);
  }
  int status = 0;
  waitpid(p, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("lane-end: %s status=%d seconds=%.2f\n", marker, code, now() - t0);
  return code;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  double t0 = now();
  mkdir("/dev", 0755);
  mkdir("/proc", 0755);
  mkdir("/sys", 0755);
  mkdir("/tmp", 01777);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  int c = open("/dev/console", O_RDWR);
  if (c >= 0) {
    dup2(c, 1);
    dup2(c, 2);
  }
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
    char *caps[] = {"/kvmdbg", "caps", "--backend", "kvm", "--probe", "--json", NULL};
    run("caps", caps);
    char *scen[] = {"/kvmdbg", "scenarios", "--backend", "kvm", NULL};
    run("scenarios", scen);
  }
  printf("lane-done: seconds=%.2f\n", now() - t0);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
