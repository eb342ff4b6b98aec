// What the C /init programs of the lanes share (lanes/x86/init.c, lanes/arm64-cli/init.c):
// static functions, included once by each.
#ifndef LANE_INIT_H
#define LANE_INIT_H
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// The value of `key` (e.g. "lane.timeout=") in /proc/cmdline, or `fallback`.
static const char *cmdline(const char *key, const char *fallback) {
  static char buf[4096];
  int fd = open("/proc/cmdline", O_RDONLY);
  if (fd < 0) return fallback;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  for (char *w = strtok(buf, " \n"); w; w = strtok(NULL, " \n"))
    if (strncmp(w, key, strlen(key)) == 0) return w + strlen(key);
  return fallback;
}

// /dev, /proc, /sys and /tmp, and stdout and stderr on the console.
static void mount_pseudo_filesystems(void) {
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
}

// The UART's own view of the GDB line ttyS<index> (/proc/tty/driver/serial: its type, bytes
// moved, and overrun oe: / framing fe: / parity pe: errors, which would mean bytes lost between
// QEMU and the server) as `lane-serial: ttyS...` (scripts/lane-lib's lane_check_uart).
static void print_serial(const char *index) {
  char line[512], prefix[16];
  snprintf(prefix, sizeof prefix, "%s:", index);
  FILE *u = fopen("/proc/tty/driver/serial", "r");
  while (u && fgets(line, sizeof line, u))
    if (strncmp(line, prefix, strlen(prefix)) == 0) printf("lane-serial: ttyS%s", line);
  if (u) fclose(u);
}
#endif
