# SPDX-License-Identifier: Apache-2.0
# `cpack -G DEB` in a build configured with -DCMAKE_INSTALL_PREFIX=/usr (so the
# module lands in the system's PAM directory, /usr/lib/<multiarch>/security,
# and the configuration in /etc/security). packaging/debian holds the
# maintainer scripts; tests/packaging/deb_test.sh installs and purges the result.
set(CPACK_PACKAGE_NAME authctl)
set(CPACK_PACKAGE_VENDOR "authctl")
set(CPACK_PACKAGE_CONTACT "authctl maintainers <maintainers@authctl.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "one-time codes (TOTP/HOTP) and brute-force lockout for PAM")
set(CPACK_PACKAGE_DESCRIPTION "pam_authctl.so asks enrolled users for a one-time code from an
authenticator app and locks accounts after repeated failures, checking the
lock, the code and recording the result in one locked step. The authctl
command enrolls users (QR codes), shows and clears lockouts, audits who may
use sudo, and imports google-authenticator and pam_oath enrollments.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# pam-auth-update (libpam-runtime) for the profile; the module directory.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libpam-runtime (>= 1.0.1-6)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_GENERATOR DEB)
include(CPack)
