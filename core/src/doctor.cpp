// SPDX-License-Identifier: Apache-2.0
// The findings of `authctl doctor`: see doctor.hpp.
#include "authctl/doctor.hpp"

#include <algorithm>
#include <tuple>

namespace authctl::doctor {

const char* severity_text(Severity s) noexcept
{
    switch (s) {
        case Severity::error: return "error";
        case Severity::warning: return "warning";
        case Severity::note: return "note";
    }
    return "?";
}

void add_finding(std::vector<Finding>& out, Finding f)
{
    for (auto& have : out) {
        if (have.id != f.id || have.file != f.file || have.line != f.line) continue;
        for (auto& s : f.services)
            if (std::find(have.services.begin(), have.services.end(), s) == have.services.end())
                have.services.push_back(s);
        return;
    }
    out.push_back(std::move(f));
}

void sort_findings(std::vector<Finding>& findings)
{
    for (auto& f : findings) std::sort(f.services.begin(), f.services.end());
    std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
        return std::tie(a.severity, a.file, a.line, a.id) < std::tie(b.severity, b.file, b.line, b.id);
    });
}

}  // namespace authctl::doctor
