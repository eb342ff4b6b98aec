/* /init of the arm64 lane: a static aarch64 binary in an initramfs, booted by QEMU
 * with emulated EL2 (scripts/arm64-lane). Mounts devtmpfs (Debian's kernel does not
 * auto-mount it) so /dev/kvm exists, quietens the console, prints the kernel version,
 * runs kvmdbg's core (Embedded Swift, kvmdbg_lane_main in LaneMain.swift), and powers off.
 * Everything Swift prints goes to stdout, i.e. the serial console.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

extern int kvmdbg_lane_main(void);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd >= 0) {
        ssize_t n = write(fd, text, strlen(text));
        (void)n;
        close(fd);
    }
}

int main(void) {
    int init = getpid() == 1;
    if (init) {
        mkdir("/dev", 0755);
        mkdir("/proc", 0755);
        if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0) perror("lane: mount devtmpfs");
        if (mount("proc", "/proc", "proc", 0, NULL) != 0) perror("lane: mount proc");
        /* Only emergencies on the console from here on: kernel messages must not
         * split the lines the host parses. */
        write_file("/proc/sys/kernel/printk", "1 4 1 7");
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct utsname u;
    if (uname(&u) == 0) printf("lane-kernel: Linux %s %s %s\n", u.release, u.version, u.machine);
    double t0 = now();
    int errors = kvmdbg_lane_main();
    printf("lane-done: errors=%d core-seconds=%.3f\n", errors, now() - t0);
    fflush(stdout);
    if (init) {
        sync();
        reboot(RB_POWER_OFF);
    }
    return errors != 0;
}
