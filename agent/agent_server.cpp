// SPDX-License-Identifier: Apache-2.0
#include "agent_server.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <poll.h>

#include "authctl/agent_protocol.hpp"
#include "authctl/login.hpp"
#include "authctl/secret.hpp"

namespace authctl::agentd {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A skewed clock is logged when first seen, then every this many checks while it lasts.
constexpr unsigned kSkewRepeatChecks = 15;

std::string held_back(unsigned n)
{
    return n == 0 ? std::string() : " (" + std::to_string(n) + " more held back)";
}

}  // namespace

Server::Server(ListenSocket sock, std::shared_ptr<Backend> backend, BackendLoader loader, ServerLimits limits)
    : sock_(std::move(sock)), loader_(std::move(loader)), limits_(limits), backend_(std::move(backend))
{
}

Server::~Server()
{
    unlink_socket(sock_);
}

std::shared_ptr<Backend> Server::current()
{
    const std::lock_guard<std::mutex> lk(backend_mu_);
    return backend_;
}

int Server::run(int signal_fd)
{
    const unsigned nworkers = limits_.workers == 0 ? 1 : limits_.workers;
    for (unsigned i = 0; i < nworkers; ++i) workers_.emplace_back([this] { worker(); });
    hk_ = std::thread([this] { housekeeping(); });
    log(LogLevel::info, "listening on " + sock_.path + (sock_.activated ? " (from systemd)" : "") + ", " +
                            std::to_string(nworkers) + " workers, at most " + std::to_string(limits_.max_connections) +
                            " connections at once");

    bool stop = false;
    while (!stop) {
        pollfd fds[2] = {{sock_.fd.get(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            log(LogLevel::error, std::string("poll: ") + std::strerror(errno) + "; stopping");
            break;
        }
        if ((fds[1].revents & POLLIN) != 0) {
            signalfd_siginfo si{};
            while (read(signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                if (si.ssi_signo == SIGHUP) {
                    log(LogLevel::info, "SIGHUP: reloading fleet.conf, the keyring and authctl.conf");
                    const std::lock_guard<std::mutex> lk(hk_mu_);
                    reload_requested_ = true;
                    hk_cv_.notify_all();
                } else {
                    log(LogLevel::info, std::string(si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM") +
                                            ": stopping; finishing the requests accepted");
                    stop = true;
                }
            }
        }
        if (!stop && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) accept_ready();
    }

    // No new connections: a client now finds no socket (or, with systemd,
    // waits in the listen queue for the next start) instead of a silent agent.
    unlink_socket(sock_);
    sock_.fd.reset();
    const bool drained = drain();
    {
        const std::lock_guard<std::mutex> lk(hk_mu_);
        hk_stop_ = true;
        hk_cv_.notify_all();
    }
    if (!drained) {
        // Threads blocked past every bound cannot be joined; their database
        // transactions roll back when the process exits, and their clients
        // got no verdict (fail closed).
        log(LogLevel::error, "requests still running after " + std::to_string(limits_.drain_timeout.count()) +
                                 " ms; exiting without them");
        _exit(1);
    }
    for (auto& t : workers_) t.join();
    hk_.join();
    log(LogLevel::info, "stopped");
    return 0;
}

bool Server::drain()
{
    std::unique_lock<std::mutex> lk(q_mu_);
    stop_workers_ = true;
    q_cv_.notify_all();
    return idle_cv_.wait_for(lk, limits_.drain_timeout, [this] { return queue_.empty() && busy_ == 0; });
}

void Server::accept_ready()
{
    // A bounded batch, so signals are looked at between batches.
    for (int i = 0; i < 64; ++i) {
        UniqueFd conn(accept4(sock_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!conn.valid()) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) return;
            const int e = errno;
            if (auto held = accept_log_.pass())
                log(LogLevel::error, std::string("accept: ") + std::strerror(e) + held_back(*held));
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) poll(nullptr, 0, 100);
            return;
        }
        auto peer = peer_cred(conn.get());
        if (!peer) {
            log(LogLevel::error, "closed a connection: " + peer.error().message());
            continue;
        }
        if (peer->uid != 0) {
            refuse(conn.get(), *peer);
            continue;
        }
        std::unique_lock<std::mutex> lk(q_mu_);
        const std::size_t in_flight = queue_.size() + busy_;
        if (in_flight >= limits_.max_connections) {
            lk.unlock();
            if (auto held = busy_log_.pass())
                log(LogLevel::warning, "busy: " + std::to_string(in_flight) +
                                           " connections in flight; closed a new one unanswered" + held_back(*held));
            continue;
        }
        queue_.push_back(conn.release());
        lk.unlock();
        q_cv_.notify_one();
    }
}

// A non-root peer gets an error reply without its request being read, and is
// closed. The socket is root's and 0600, so this is a misconfiguration (or a
// descriptor passed on) -- logged, at most once a second.
void Server::refuse(int fd, const PeerCred& peer)
{
    if (auto held = refused_log_.pass())
        log(LogLevel::warning, "refused connection from uid " + std::to_string(peer.uid) + " (pid " +
                                   std::to_string(peer.pid) + "): authctld serves root only" + held_back(*held));
    static const auto frame =
        agent::encode_reply(agent::error_reply(make_error(Errc::insecure, "authctld serves root only")));
    if (frame) (void)!send(fd, frame->data(), frame->size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Server::worker()
{
    for (;;) {
        int fd = -1;
        {
            std::unique_lock<std::mutex> lk(q_mu_);
            q_cv_.wait(lk, [this] { return !queue_.empty() || stop_workers_; });
            if (queue_.empty()) return;
            fd = queue_.front();
            queue_.pop_front();
            ++busy_;
        }
        try {
            handle(fd);
        } catch (const std::bad_alloc&) {
            log(LogLevel::error, "out of memory serving a request; closed it unanswered");
        } catch (const std::exception& e) {
            log(LogLevel::error, std::string("internal error serving a request; closed it unanswered: ") + e.what());
        } catch (...) {
            log(LogLevel::error, "internal error serving a request; closed it unanswered");
        }
        {
            const std::lock_guard<std::mutex> lk(q_mu_);
            --busy_;
        }
        idle_cv_.notify_all();
    }
}

void Server::handle(int raw_fd)
{
    const UniqueFd conn(raw_fd);
    std::string payload;
    const Status got = read_frame(conn.get(), payload, SteadyClock::now() + limits_.io_timeout);
    if (!got) {
        wipe_string(payload);
        log(LogLevel::notice, "dropped a connection without a request: " + got.error().message());
        return;
    }
    auto req = agent::decode_request(payload);
    wipe_string(payload);

    agent::Reply rep;
    if (req && peer_gone(conn.get())) {
        log(LogLevel::notice, "user " + agent::log_user(*req) +
                                  ": the client gave up before its request was served; nothing decided");
        return;
    }
    if (!req) {
        rep = agent::error_reply(req.error());
        log(LogLevel::notice, "refused a malformed request: " + agent::log_text(req.error().message(), 512));
    } else {
        const std::shared_ptr<Backend> backend = current();
        auto admission = backend->gate.admit([&backend] { return backend->store->check_schema(); }, SteadyClock::now());
        if (admission.transition) log(*admission.transition);
        if (!admission.status) {
            rep = agent::error_reply(admission.status.error());
        } else {
            LocalLogins logins(*backend->store, backend->opts);
            // A module that gave up waiting told its login nothing was
            // decided: then nothing may be (the store rolls back instead of
            // committing).
            const fleet::CommitGate gate([&conn] { return !peer_gone(conn.get()); });
            rep = agent::serve_request(logins, *req);
        }
        log(agent::decision_log(*req, rep));
    }

    auto frame = agent::encode_reply(rep);
    if (!frame) {
        log(LogLevel::error, "cannot encode a reply, closed unanswered: " + frame.error().message());
        return;
    }
    if (auto st = write_all(conn.get(), *frame, SteadyClock::now() + limits_.io_timeout); !st) {
        const std::string who = req ? "user " + agent::log_user(*req) : std::string("a malformed request");
        log(LogLevel::warning, "reply for " + who + " not delivered (the decision stands): " + st.error().message());
    }
}

// Housekeeping must not end the agent: anything thrown (out of memory) is
// logged and the agent goes on serving with what it has.
void Server::guarded(const char* what, const std::function<void()>& work) noexcept
{
    try {
        try {
            work();
        } catch (const std::exception& e) {
            log(LogLevel::error, std::string(what) + " failed: " + e.what());
        }
    } catch (...) {
        // Not even the log line could be made: nothing more to do.
    }
}

void Server::housekeeping()
{
    auto next_clock = SteadyClock::now();
    std::unique_lock<std::mutex> lk(hk_mu_);
    for (;;) {
        hk_cv_.wait_until(lk, next_clock, [this] { return hk_stop_ || reload_requested_; });
        if (hk_stop_) return;
        if (reload_requested_) {
            reload_requested_ = false;
            lk.unlock();
            guarded("reload", [this] { reload(); });
            lk.lock();
            continue;
        }
        if (SteadyClock::now() >= next_clock) {
            lk.unlock();
            guarded("clock check", [this] { check_clock(); });
            lk.lock();
            next_clock = SteadyClock::now() + limits_.clock_interval;
        }
    }
}

void Server::check_clock()
{
    const std::shared_ptr<Backend> backend = current();
    auto db = backend->store->db_time();
    if (!db) return;  // the store is down: the gate's log lines say so
    const auto host = static_cast<std::int64_t>(::time(nullptr));
    auto warning = agent::clock_skew_warning(host, *db);
    if (!warning) {
        if (clock_skewed_) log(LogLevel::info, "this host's clock agrees with the database's again");
        clock_skewed_ = false;
        skew_checks_ = 0;
        return;
    }
    if (!clock_skewed_ || ++skew_checks_ % kSkewRepeatChecks == 0) log(LogLevel::warning, *warning);
    clock_skewed_ = true;
}

void Server::reload()
{
    auto next = loader_();
    if (!next) {
        log(LogLevel::error, "reload failed, still serving with the previous configuration: " + next.error().message());
        return;
    }
    const std::shared_ptr<Backend> old = current();
    const Status& checked = (*next)->initial_check;
    if (!checked) {
        // Swapping in a store that cannot serve while the running one can
        // would make logins fail: keep the running one, unless it fails too.
        const Status old_ok = old->store->check_schema();
        if (old_ok) {
            log(LogLevel::error, "reload: the new configuration's store is not usable (" + checked.error().message() +
                                     "); still serving with the previous one. Fix it and send SIGHUP again");
            return;
        }
    }
    if ((*next)->cfg.socket != old->cfg.socket)
        log(LogLevel::warning, "reload: the socket setting changed to " + (*next)->cfg.socket +
                                   "; it takes effect at the next start (still listening on " + sock_.path + ")");
    {
        const std::lock_guard<std::mutex> lk(backend_mu_);
        backend_ = *next;
    }
    log(LogLevel::info, "reloaded: keyring with " + std::to_string((*next)->store->keyring().keys.size()) +
                            " key(s), current key " + (*next)->store->keyring().current + ", store " +
                            (*next)->store->describe());
    log(agent::store_check_log(checked, (*next)->store->describe()));
}

}  // namespace authctl::agentd
