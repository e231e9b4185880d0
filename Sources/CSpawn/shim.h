#ifndef IMGPROMOTE_CSPAWN_H
#define IMGPROMOTE_CSPAWN_H
// glibc declares these only under _GNU_SOURCE, and Swift's Glibc module is built without it.
// The prototypes are those of <unistd.h> (pipe2, glibc 2.9) and <spawn.h> (addclosefrom_np, glibc 2.34:
// RHEL 9 and Debian 12 have it).
#if defined(__linux__)
#include <spawn.h>
int pipe2(int pipefd[2], int flags);
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
#endif
#endif
