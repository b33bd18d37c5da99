// SPDX-License-Identifier: Apache-2.0
// The fleet tests' own handle on the database: a PgStore over a test
// server's fleet.conf and key file, as authctld and the CLI open it.
#pragma once

#include <memory>
#include <string>

#include "authctl/fleet_config.hpp"
#include "authctl/sealed.hpp"
#include "pg_server.hpp"
#include "pg_store.hpp"

namespace authctl::test {

// Starts a test server into `pg` and opens `store` on it, the schema created
// (fleet init). Returns "" or what went wrong, for the suite's SetUp to report.
inline std::string start_fleet(std::unique_ptr<PgTestServer>& pg, std::unique_ptr<fleet::PgStore>& store)
{
    try {
        pg = PgTestServer::start();
    } catch (const std::exception& e) {
        return e.what();
    }
    fleet::scrub_pg_environment();
    auto cfg = fleet::load_fleet_config(pg->fleet_conf_path());
    if (!cfg) return cfg.error().message();
    auto ring = load_keyring(cfg->key_file);
    if (!ring) return ring.error().message();
    auto opened = fleet::PgStore::open(*cfg, std::move(*ring));
    if (!opened) return opened.error().message();
    store = std::move(*opened);
    if (auto v = store->init_schema(); !v) return v.error().message();
    return "";
}

// start_fleet, plus a streaming standby of it (synchronous or not) in `standby`.
inline std::string start_fleet_with_standby(std::unique_ptr<PgTestServer>& pg, std::unique_ptr<PgTestServer>& standby,
                                            std::unique_ptr<fleet::PgStore>& store, PgTestServer::Sync sync)
{
    if (std::string err = start_fleet(pg, store); !err.empty()) return err;
    try {
        standby = PgTestServer::standby_of(*pg, sync);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace authctl::test
