// SPDX-License-Identifier: Apache-2.0
#include "qr.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <png.h>

#include "cli_context.hpp"

namespace authctl::cli {
namespace {

int create_new(const std::string& path)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) fail(kExitFailed, "cannot create '" + path + "': " + std::strerror(errno));
    return fd;
}

}  // namespace

QrMatrix encode_qr(const std::string& text)
{
    auto qr = authctl::encode_qr(text);
    if (!qr) fail(kExitFailed, qr.error().detail);
    return std::move(*qr);
}

std::string render_ansi(const QrMatrix& qr)
{
    std::string out;
    for (int y = 0; y < qr.size; ++y) {
        for (int x = 0; x < qr.size; ++x) out += qr.at(x, y) ? "\x1b[40m  " : "\x1b[47m  ";
        out += "\x1b[0m\n";
    }
    return out;
}

std::string render_svg(const QrMatrix& qr, int scale)
{
    const int px = qr.size * scale;
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                      std::to_string(px) + "\" height=\"" + std::to_string(px) + "\" viewBox=\"0 0 " +
                      std::to_string(qr.size) + " " + std::to_string(qr.size) +
                      "\" shape-rendering=\"crispEdges\">\n<rect width=\"100%\" height=\"100%\" "
                      "fill=\"#ffffff\"/>\n<path fill=\"#000000\" d=\"";
    for (int y = 0; y < qr.size; ++y)
        for (int x = 0; x < qr.size; ++x)
            if (qr.at(x, y)) out += "M" + std::to_string(x) + " " + std::to_string(y) + "h1v1h-1z";
    out += "\"/>\n</svg>\n";
    return out;
}

void write_new_file(const std::string& path, const std::string& text)
{
    const int fd = create_new(path);
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            ::unlink(path.c_str());
            fail(kExitFailed, "cannot write '" + path + "': " + std::strerror(err));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) fail(kExitFailed, "cannot write '" + path + "': " + std::strerror(errno));
}

void write_png(const QrMatrix& qr, const std::string& path, int scale)
{
    const int fd = create_new(path);
    FILE* f = ::fdopen(fd, "wb");
    if (f == nullptr) {
        ::close(fd);
        fail(kExitFailed, "cannot write '" + path + "'");
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png == nullptr ? nullptr : png_create_info_struct(png);
    bool ok = png != nullptr && info != nullptr;
    const auto px = static_cast<png_uint_32>(qr.size * scale);
    std::vector<png_byte> row(px);
    if (ok && setjmp(png_jmpbuf(png)) == 0) {
        png_init_io(png, f);
        png_set_IHDR(png, info, px, px, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                     PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int y = 0; y < qr.size; ++y) {
            for (int x = 0; x < qr.size; ++x)
                for (int k = 0; k < scale; ++k) row[static_cast<std::size_t>(x * scale + k)] = qr.at(x, y) ? 0 : 255;
            for (int k = 0; k < scale; ++k) png_write_row(png, row.data());
        }
        png_write_end(png, nullptr);
    } else {
        ok = false;
    }
    png_destroy_write_struct(png != nullptr ? &png : nullptr, info != nullptr ? &info : nullptr);
    if (std::fclose(f) != 0) ok = false;
    if (!ok) {
        ::unlink(path.c_str());
        fail(kExitFailed, "cannot write the PNG '" + path + "'");
    }
}

}  // namespace authctl::cli
