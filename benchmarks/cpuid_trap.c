/* cpuid_trap.c: answer the CPU's `cpuid` instruction with another vendor or other cache sizes.
 *
 * Loaded with LD_PRELOAD, it asks Linux to make `cpuid` fault in this process
 * (arch_prctl ARCH_SET_CPUID, Linux >= 4.12, on CPUs or hypervisors with CPUID faulting) and
 * answers each fault from the real instruction, changed as the environment says:
 *
 *   CPUID_VENDOR=intel        leaf 0 says GenuineIntel; leaf 4 (Intel's cache leaf) is answered
 *   CPUID_CACHE=L1,L2,L3      cache sizes in KiB (leaf 4 for Intel, 0x8000001D for AMD)
 *   CPUID_COUNT=1             print how many cpuid instructions were answered, at exit
 *
 * MKL, oneDNN and torch read the CPU through cpuid, so a process run under this trap computes
 * what it would compute on such a CPU with the same instruction sets: benchmarks/portability.py
 * uses it to show whether a numerics path gives the same bits across vendors and cache sizes.
 * Nothing else is changed (the instruction-set flags stay the real ones).
 *
 *   gcc -O2 -shared -fPIC -o cpuid_trap.so cpuid_trap.c
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int fake_intel = 0;
static unsigned l1 = 0, l2 = 0, l3 = 0; /* KiB; 0: the real size (AMD) or a default (Intel) */
static long answered = 0;

static void real_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}

/* Intel's deterministic cache parameters (leaf 4): type, level, ways, line size, sets. */
static void intel_cache_leaf(unsigned sub, unsigned r[4]) {
  unsigned type, level, size, ways, shared = 0;
  switch (sub) {
    case 0: type = 1; level = 1; size = l1 ? l1 : 48; ways = 12; break;
    case 1: type = 2; level = 1; size = 32; ways = 8; break;
    case 2: type = 3; level = 2; size = l2 ? l2 : 2048; ways = 16; break;
    case 3: type = 3; level = 3; size = l3 ? l3 : 107520; ways = 15; shared = 1; break;
    default: r[0] = r[1] = r[2] = r[3] = 0; return;
  }
  unsigned line = 64, sets = size * 1024 / (ways * line);
  r[0] = type | (level << 5) | (1u << 8) | (shared << 14) | (1u << 26);
  r[1] = (line - 1) | ((ways - 1) << 22);
  r[2] = sets - 1;
  r[3] = 0;
}

/* AMD's cache leaf (0x8000001D): keep its geometry, change the number of sets. */
static void amd_cache_leaf(unsigned r[4]) {
  unsigned level = (r[0] >> 5) & 7, type = r[0] & 31, size = 0;
  if (level == 1 && type == 1) size = l1;
  if (level == 2) size = l2;
  if (level == 3) size = l3;
  if (!size) return;
  unsigned line = (r[1] & 0xfff) + 1, parts = ((r[1] >> 12) & 0x3ff) + 1;
  unsigned ways = ((r[1] >> 22) & 0x3ff) + 1;
  r[2] = size * 1024 / (line * parts * ways) - 1;
}

static void on_fault(int sig, siginfo_t *info, void *context) {
  (void)sig; (void)info;
  greg_t *g = ((ucontext_t *)context)->uc_mcontext.gregs;
  unsigned char *ip = (unsigned char *)g[REG_RIP];
  if (!(ip[0] == 0x0f && ip[1] == 0xa2)) { /* not cpuid: a real fault, die as usual */
    signal(SIGSEGV, SIG_DFL);
    return;
  }
  answered++;
  unsigned leaf = (unsigned)g[REG_RAX], sub = (unsigned)g[REG_RCX], r[4];
  real_cpuid(leaf, sub, r);
  if (fake_intel && leaf == 0) {
    memcpy(&r[1], "Genu", 4);
    memcpy(&r[3], "ineI", 4);
    memcpy(&r[2], "ntel", 4);
    if (r[0] < 0xd) r[0] = 0xd;
  } else if (fake_intel && leaf == 4) {
    intel_cache_leaf(sub, r);
  } else if (!fake_intel && leaf == 0x8000001d) {
    amd_cache_leaf(r);
  }
  g[REG_RAX] = r[0];
  g[REG_RBX] = r[1];
  g[REG_RCX] = r[2];
  g[REG_RDX] = r[3];
  g[REG_RIP] += 2; /* past the cpuid instruction */
}

__attribute__((constructor)) static void start(void) {
  const char *vendor = getenv("CPUID_VENDOR"), *cache = getenv("CPUID_CACHE");
  fake_intel = vendor && !strcmp(vendor, "intel");
  if (cache) sscanf(cache, "%u,%u,%u", &l1, &l2, &l3);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &sa, 0);
  if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
    perror("cpuid_trap: ARCH_SET_CPUID (no CPUID faulting here)");
    _exit(97);
  }
}

__attribute__((destructor)) static void stop(void) {
  if (getenv("CPUID_COUNT")) fprintf(stderr, "cpuid_trap: %ld cpuid answered\n", answered);
}
