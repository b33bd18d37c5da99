// SPDX-License-Identifier: Apache-2.0
/* pam_bench: drives a PAM service in-process through the real libpam, as
 * sshd does once per connection: pam_start, pam_authenticate, pam_end, with a
 * no-op fail-delay callback, N times; or P processes at once.
 *
 *   pam_bench [-p PROCS] [-b] [-c] [-r FILE] [-a SPREAD] [-l FILE] [-s] SERVICE USER ANSWERS N
 *
 * USER may contain one %d, replaced by the process number (0..PROCS-1), so
 * each process logs in as its own user. SERVICE may contain one %d too,
 * replaced by the process number modulo SPREAD (-a, default 1): process k uses
 * service k % SPREAD (the fleet bench: one service per agent). ANSWERS is a file with one answer per
 * line, given to the prompt(s) of attempt i (line i, per process: process k
 * uses lines k*N .. k*N+N-1; the file must have enough), or "-" for an empty
 * answer. -b starts all processes at the same instant (a barrier) for races.
 * -c first loads and initialises libcrypto with its configuration file, as
 * sshd does at start (ssh_libcrypto_init), and fetches SHA-256, as its key
 * exchange has by the time a user authenticates.
 * -r FILE puts FILE back as it was at start before each attempt (a new file
 * renamed over it, mode 0600), outside what callgrind counts: a TOTP code is
 * good once per 30 s, so this is how one user's right code is measured again
 * and again. Only with one process.
 * -l FILE appends each attempt's wall time in microseconds (one line each,
 * written when the process ends, outside what is timed per attempt).
 * -s gives each attempt its own PAM_RHOST (attempt i of process k, line
 * k*N+i: 198.18.0.0 + that line, in the benchmarking range 198.18.0.0/15);
 * without it every attempt comes from 192.0.2.1.
 * Prints one line: attempts=A success=S seconds=T per_second=R refused=F
 * (F: attempts answered PAM_AUTH_ERR or PAM_MAXTRIES (locked); A - S - F ended otherwise, e.g.
 * PAM_AUTHINFO_UNAVAIL).
 *
 * Plain C linked only to libpam, so dlopen'ing a C++ module counts its
 * libraries as it would in sshd. Under callgrind, --toggle-collect=bench_attempt
 * counts only what a login costs (libpam and the modules), not this driver. */
#define _GNU_SOURCE
#include <openssl/crypto.h> /* the OPENSSL_INIT_* flags only: libcrypto is dlopen'ed by -c */
#include <security/pam_appl.h>

#include <dlfcn.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct answer {
    const char* text;
};

static int converse(int n, const struct pam_message** msg, struct pam_response** resp, void* data)
{
    const struct answer* a = data;
    struct pam_response* out = calloc((size_t)n, sizeof *out);
    if (out == NULL) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
            out[i].resp = strdup(a->text);
            if (out[i].resp == NULL) {
                for (int j = 0; j < i; ++j) free(out[j].resp);
                free(out);
                return PAM_BUF_ERR;
            }
        }
    }
    *resp = out;
    return PAM_SUCCESS;
}

static void no_delay(int status, unsigned usec, void* data)
{
    (void)status;
    (void)usec;
    (void)data;
}

/* One login; callgrind collects inside this function only. */
__attribute__((noinline)) int bench_attempt(const char* service, const char* user, const char* answer,
                                            const char* rhost)
{
    struct answer a = {answer};
    const struct pam_conv conv = {converse, &a};
    pam_handle_t* pamh = NULL;
    int rc = pam_start(service, user, &conv, &pamh);
    if (rc != PAM_SUCCESS) return rc;
    pam_set_item(pamh, PAM_FAIL_DELAY, (const void*)no_delay);
    pam_set_item(pamh, PAM_RHOST, rhost);
    rc = pam_authenticate(pamh, 0);
    pam_end(pamh, rc);
    return rc;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char** read_answers(const char* path, long* count)
{
    *count = 0;
    if (strcmp(path, "-") == 0) return NULL;
    FILE* f = fopen(path, "re");
    if (f == NULL) {
        fprintf(stderr, "pam_bench: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    long cap = 1024;
    char** lines = malloc((size_t)cap * sizeof *lines);
    char* line = NULL;
    size_t len = 0;
    ssize_t got;
    while (lines != NULL && (got = getline(&line, &len, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        if (*count == cap) {
            cap *= 2;
            char** grown = realloc(lines, (size_t)cap * sizeof *lines);
            if (grown == NULL) break;
            lines = grown;
        }
        lines[(*count)++] = strdup(line);
    }
    free(line);
    fclose(f);
    if (lines == NULL) {
        fprintf(stderr, "pam_bench: out of memory\n");
        exit(2);
    }
    return lines;
}

/* -r: the file to put back before each attempt, and its bytes at start. */
static const char* restore_path;
static char* restore_bytes;
static size_t restore_len;

static int load_restore(const char* path)
{
    if (restore_path != NULL) {
        fprintf(stderr, "pam_bench: -r given twice\n");
        return -1;
    }
    FILE* f = fopen(path, "re");
    if (f == NULL) {
        fprintf(stderr, "pam_bench: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (restore_len == cap) {
            cap = cap ? cap * 2 : 4096;
            char* grown = realloc(restore_bytes, cap);
            if (grown == NULL) {
                fclose(f);
                return -1;
            }
            restore_bytes = grown;
        }
        restore_bytes[restore_len++] = (char)c;
    }
    fclose(f);
    restore_path = path;
    return 0;
}

static void restore(void)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.bench-restore", restore_path) >= (int)sizeof tmp) exit(2);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, restore_bytes, restore_len) != (ssize_t)restore_len || close(fd) != 0 ||
        rename(tmp, restore_path) != 0) {
        fprintf(stderr, "pam_bench: cannot put back %s: %s\n", restore_path, strerror(errno));
        exit(2);
    }
}

/* -a, -l, -s */
static int spread = 1;
static int own_rhost;
static const char* latency_path;

struct tally {
    long ok;
    long refused;
};

static void write_latencies(const double* us, long n)
{
    size_t cap = (size_t)n * 24 + 1, len = 0;
    char* buf = malloc(cap);
    if (buf == NULL) exit(2);
    for (long i = 0; i < n; ++i) len += (size_t)snprintf(buf + len, cap - len, "%.1f\n", us[i]);
    const int fd = open(latency_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) != 0) {
        fprintf(stderr, "pam_bench: cannot write %s: %s\n", latency_path, strerror(errno));
        exit(2);
    }
    free(buf);
}

/* Runs `n` attempts as process `k`; returns its successes and refusals. */
static struct tally run(int k, const char* service_fmt, const char* user_fmt, char** answers, long n_answers, long n)
{
    char user[256], service[256];
    snprintf(user, sizeof user, user_fmt, k);
    snprintf(service, sizeof service, service_fmt, k % spread);
    struct tally t = {0, 0};
    double* us = latency_path != NULL ? calloc((size_t)n, sizeof *us) : NULL;
    if (latency_path != NULL && us == NULL) exit(2);
    for (long i = 0; i < n; ++i) {
        const long line = (long)k * n + i;
        const char* answer = answers == NULL ? "" : answers[line < n_answers ? line : n_answers - 1];
        char rhost[32] = "192.0.2.1";
        if (own_rhost)
            snprintf(rhost, sizeof rhost, "198.%ld.%ld.%ld", 18 + ((line >> 16) & 1), (line >> 8) & 255, line & 255);
        if (restore_path != NULL) restore();
        const double t0 = us != NULL ? now() : 0;
        const int rc = bench_attempt(service, user, answer, rhost);
        if (us != NULL) us[i] = (now() - t0) * 1e6;
        if (rc == PAM_SUCCESS) ++t.ok;
        else if (rc == PAM_AUTH_ERR || rc == PAM_MAXTRIES) ++t.refused;
    }
    if (us != NULL) {
        write_latencies(us, n);
        free(us);
    }
    return t;
}

/* -c: libcrypto loaded and initialised as sshd has it before authentication. */
static int init_libcrypto(void)
{
    void* lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_GLOBAL);
    if (lib == NULL) {
        fprintf(stderr, "pam_bench: %s\n", dlerror());
        return -1;
    }
    int (*init)(uint64_t, const void*) = (int (*)(uint64_t, const void*))dlsym(lib, "OPENSSL_init_crypto");
    if (init == NULL ||
        init(OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS | OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
        fprintf(stderr, "pam_bench: OPENSSL_init_crypto failed\n");
        return -1;
    }
    void* (*md_fetch)(void*, const char*, const char*) =
        (void* (*)(void*, const char*, const char*))dlsym(lib, "EVP_MD_fetch");
    void (*md_free)(void*) = (void (*)(void*))dlsym(lib, "EVP_MD_free");
    void* md = md_fetch == NULL ? NULL : md_fetch(NULL, "SHA256", NULL);
    if (md == NULL || md_free == NULL) {
        fprintf(stderr, "pam_bench: EVP_MD_fetch(SHA256) failed\n");
        return -1;
    }
    md_free(md);
    return 0;
}

int main(int argc, char** argv)
{
    int procs = 1, barrier = 0, opt;
    while ((opt = getopt(argc, argv, "p:bcr:a:l:s")) != -1) {
        if (opt == 'p') procs = atoi(optarg);
        else if (opt == 'a') spread = atoi(optarg);
        else if (opt == 'l') latency_path = optarg;
        else if (opt == 'b') barrier = 1;
        else if (opt == 's') own_rhost = 1;
        else if (opt == 'r') {
            if (load_restore(optarg) != 0) return 2;
        }
        else if (opt == 'c') {
            if (init_libcrypto() != 0) return 2;
        } else return 2;
    }
    if (argc - optind != 4 || procs < 1 || procs > 256 || spread < 1 || spread > 256 ||
        (restore_path != NULL && (procs != 1 || barrier))) {
        fprintf(stderr, "usage: pam_bench [-p PROCS] [-b] [-c] [-r FILE] [-a SPREAD] [-l FILE] [-s] SERVICE USER ANSWERS N\n");
        return 2;
    }
    const char* service = argv[optind];
    const char* user_fmt = argv[optind + 1];
    long n_answers = 0;
    char** answers = read_answers(argv[optind + 2], &n_answers);
    const long n = atol(argv[optind + 3]);
    if (n < 1 || (answers != NULL && n_answers < (long)procs * n)) {
        fprintf(stderr, "pam_bench: need N >= 1 and %ld answers, have %ld\n", (long)procs * n, n_answers);
        return 2;
    }

    if (procs == 1 && !barrier) {
        const double t0 = now();
        const struct tally r = run(0, service, user_fmt, answers, n_answers, n);
        const double t = now() - t0;
        printf("attempts=%ld success=%ld seconds=%.6f per_second=%.1f refused=%ld\n", n, r.ok, t, (double)n / t,
               r.refused);
        return 0;
    }

    /* Each child reports its successes through a pipe; the barrier is a pipe
     * whose write end the parent closes when every child is waiting. */
    int result[2], gate[2];
    if (pipe(result) != 0 || pipe(gate) != 0) return 2;
    pid_t* pids = calloc((size_t)procs, sizeof *pids);
    if (pids == NULL) return 2;
    for (int k = 0; k < procs; ++k) {
        fflush(NULL);
        pids[k] = fork();
        if (pids[k] < 0) {
            for (int j = 0; j < k; ++j) kill(pids[j], SIGKILL);
            return 2;
        }
        if (pids[k] == 0) {
            close(result[0]);
            close(gate[1]);
            char c;
            if (barrier) (void)!read(gate[0], &c, 1);
            const struct tally r = run(k, service, user_fmt, answers, n_answers, n);
            (void)!write(result[1], &r, sizeof r);
            _exit(0);
        }
    }
    close(result[1]);
    close(gate[0]);
    usleep(barrier ? 200000 : 0);
    const double t0 = now();
    close(gate[1]);
    long ok = 0, refused = 0;
    struct tally part;
    while (read(result[0], &part, sizeof part) == (ssize_t)sizeof part) {
        ok += part.ok;
        refused += part.refused;
    }
    int failed = 0;
    for (int k = 0; k < procs; ++k) {
        int ws = 0;
        if (waitpid(pids[k], &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) failed = 1;
    }
    const double t = now() - t0;
    const long attempts = (long)procs * n;
    printf("attempts=%ld success=%ld seconds=%.6f per_second=%.1f refused=%ld\n", attempts, ok, t,
           (double)attempts / t, refused);
    return failed ? 1 : 0;
}
