// SPDX-License-Identifier: Apache-2.0
// authctld's serving loop: accepts on the listening socket, refuses non-root
// peers, hands each connection to a fixed pool of worker threads (at most
// `max_connections` accepted and not yet answered: more are closed at once),
// and has each worker read one request, serve it over the current backend
// (agent::serve_request with LocalLogins over the PostgreSQL store) and
// write the reply, every step bounded. A housekeeping thread compares the
// host's clock with the database's once a minute and performs reloads.
//
// Signals (blocked in every thread, read through a signalfd by run()):
// SIGTERM/SIGINT stop accepting and finish what was accepted, within
// `drain_timeout`; SIGHUP loads a new backend (fleet.conf, keyring,
// authctl.conf, a new PgStore) and swaps it in, so requests in flight finish
// on the old one and the next ones use the new one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent_log.hpp"
#include "agent_socket.hpp"
#include "authctl/agent_serve.hpp"
#include "authctl/fleet_config.hpp"
#include "authctl/options.hpp"
#include "pg_store.hpp"

namespace authctl::agentd {

// Everything a request is served with. Replaced whole on reload; a request
// holds its shared_ptr until it is answered.
struct Backend {
    Backend(fleet::FleetConfig c, std::unique_ptr<fleet::PgStore> s, Options o, Status initial)
        : cfg(std::move(c)),
          store(std::move(s)),
          opts(std::move(o)),
          initial_check(initial),
          gate(std::move(initial), agent::ServeGate::Clock::now())
    {
    }
    fleet::FleetConfig cfg;
    std::unique_ptr<fleet::PgStore> store;
    Options opts;           // the lockout and code policy (authctl.conf)
    Status initial_check;   // check_schema when it was loaded
    agent::ServeGate gate;  // re-checks the schema while it is not usable
};

// Loads a new backend from the files (and checks its schema); at start and on SIGHUP.
using BackendLoader = std::function<Result<std::shared_ptr<Backend>>()>;

struct ServerLimits {
    unsigned workers = 8;
    unsigned max_connections = 64;                   // accepted and not yet answered
    std::chrono::milliseconds io_timeout{2000};      // reading a request; writing a reply
    std::chrono::milliseconds drain_timeout{20000};  // on stop, for what was accepted
    std::chrono::seconds clock_interval{60};
};

class Server {
public:
    Server(ListenSocket sock, std::shared_ptr<Backend> backend, BackendLoader loader, ServerLimits limits);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Serves until SIGTERM or SIGINT; returns the process's exit status.
    // The caller must have blocked SIGTERM, SIGINT and SIGHUP in every thread
    // and passes a signalfd for them.
    int run(int signal_fd);

private:
    std::shared_ptr<Backend> current();
    void accept_ready();
    void refuse(int fd, const PeerCred& peer);
    void worker();
    void handle(int fd);
    void housekeeping();
    void guarded(const char* what, const std::function<void()>& work) noexcept;
    void reload();
    void check_clock();
    bool drain();

    ListenSocket sock_;
    BackendLoader loader_;
    ServerLimits limits_;

    std::mutex backend_mu_;
    std::shared_ptr<Backend> backend_;

    std::mutex q_mu_;
    std::condition_variable q_cv_;     // work for the workers
    std::condition_variable idle_cv_;  // a worker finished one
    std::deque<int> queue_;
    unsigned busy_ = 0;
    bool stop_workers_ = false;
    std::vector<std::thread> workers_;

    std::mutex hk_mu_;
    std::condition_variable hk_cv_;
    bool hk_stop_ = false;
    bool reload_requested_ = false;
    std::thread hk_;
    bool clock_skewed_ = false;
    unsigned skew_checks_ = 0;

    LogThrottle refused_log_;
    LogThrottle busy_log_;
    LogThrottle accept_log_;
};

}  // namespace authctl::agentd
