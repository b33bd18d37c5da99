// SPDX-License-Identifier: Apache-2.0
// One login through the real libpam in a fresh process, for the
// out-of-memory test (issue 19, point 8): pam_start_confdir(SERVICE, USER)
// with CONFDIR, answering every prompt with CODE, then pam_authenticate and
// pam_end. With the fail_alloc injector preloaded, allocations are counted
// from just before pam_start (after the application's own lookup of USER). Exit status: the PAM result (0..), plus 100 when
// the injector's failure was never reached (the run saw no failure at all).
// A crash shows as a signal, which is what the test looks for.
#include <dlfcn.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* g_code = "";

static int converse(int n, const struct pam_message** msg, struct pam_response** resp, void* data)
{
    (void)data;
    struct pam_response* out = calloc((size_t)n, sizeof *out);
    if (out == NULL) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF && msg[i]->msg_style != PAM_PROMPT_ECHO_ON) continue;
        out[i].resp = strdup(g_code);
        if (out[i].resp == NULL) {
            for (int j = 0; j < i; ++j) free(out[j].resp);
            free(out);
            return PAM_BUF_ERR;
        }
    }
    *resp = out;
    return PAM_SUCCESS;
}

int main(int argc, char** argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: oom_login CONFDIR SERVICE USER CODE\n");
        return 99;
    }
    g_code = argv[4];
    // As sshd, sudo, su and login do, the user is looked up before PAM
    // starts: the C library's NSS set-up is then done (its own allocation
    // failures are glibc's: docs/SECURITY.md, "Known limits").
    if (getpwnam(argv[3]) == NULL) {
        fprintf(stderr, "oom_login: no user %s\n", argv[3]);
        return 98;
    }
    void (*arm)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "fail_alloc_arm");
    int (*fired)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "fail_alloc_fired");
    if (arm != NULL) arm();
    const struct pam_conv conv = {converse, NULL};
    pam_handle_t* pamh = NULL;
    int rc = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
    if (rc == PAM_SUCCESS) {
        pam_set_item(pamh, PAM_RHOST, "192.0.2.10");
        rc = pam_authenticate(pamh, 0);
        pam_end(pamh, rc);
    }
    long (*count)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "fail_alloc_count");
    if (count != NULL) fprintf(stderr, "oom_login: %ld allocations counted, result %d\n", count(), rc);
    if (fired != NULL && !fired()) rc += 100;
    return rc;
}
