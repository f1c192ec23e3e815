// The loader: start() runs detect() and choose() (detect.cpp), then takes pinned state over or starts fresh
// (pinned_state.cpp), loads the object and attaches each chosen hook (kretprobes through tracefs:
// tracefs_kretprobes.cpp), and finds the enclaves that existed before the probes.
#include "epc_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>

#include "epc.h"
#include "host/file_reader.h"
#include "host/log_fields.h"
#include "probes_obj.h"

namespace epc::probes {

void SkelDeleter::operator()(epc_bpf* s) const { epc_bpf__destroy(s); }

namespace {

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  // A verifier log comes in one call: its end (the reason) matters most. One buffer for the process (not
  // thread_local: that would take 64 KiB of static TLS from every thread's stack, the web server's included).
  static std::mutex mu;
  static char buf[65536];
  std::lock_guard<std::mutex> lock(mu);
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  if (n <= 0) return 0;
  std::string_view line(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof(buf) - 1));
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  spdlog::debug("libbpf: {}", line);
  return 0;
}

void install_libbpf_log() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_log); });
}

void log_probe_off(const ProbeState& st) {
  spdlog::warn(
      "{}", log_fields("probe off",
                       {{"collector", "ebpf"}, {"probe", st.name}, {"function", st.function}, {"reason", st.reason}}));
}

// One hook attached: its entry program, then its return program, with their links (links[k] is progs[k]'s) and
// the tracefs events made for its kretprobe.
struct HookLinks {
  std::vector<bpf_program*> progs;
  std::vector<LinkPtr> links;
  std::vector<TracefsKretprobe> events;
};

// Attaches the hook's programs of one flavor; the kretprobe through tracefs (maxactive), through the PMU where
// tracefs refuses. On failure nothing stays attached, and the error is the reason the probe is off.
Result<HookLinks> attach_hook(const HookPrograms& hp, bool fentry, const std::string& grow_fexit,
                              const std::string& function, const std::string& tracefs, const std::string& group) {
  bpf_program* fx = hp.fx;
  if (fentry && hp.fx_alt && grow_fexit == bpf_program__name(hp.fx_alt)) fx = hp.fx_alt;
  HookLinks out;
  for (bpf_program* prog : {fentry ? hp.fe : hp.kp, fentry ? fx : hp.kr}) {
    if (!prog) continue;
    LinkPtr l;
    if (!fentry && prog == hp.kr && !tracefs.empty()) {
      TracefsKretprobe made;
      if (auto r = attach_kretprobe_tracefs(prog, function, tracefs, group, made)) {
        l = std::move(r.value());
        out.events.push_back(made);
      } else {
        spdlog::warn(
            "{}",
            log_fields("kretprobe through tracefs failed; attaching with the kernel's default maxactive",
                       {{"collector", "ebpf"}, {"program", bpf_program__name(prog)}, {"err", r.error().message}}));
      }
    }
    if (!l) l.reset(bpf_program__attach(prog));
    if (!l) {
      const int err = errno;
      out.links.clear();  // before their events: the kernel refuses to remove an event in use
      for (const auto& e : out.events) remove_tracefs_event(e);
      return make_error(std::string("attaching ") + bpf_program__name(prog) + " failed: " + errstr(err), err);
    }
    out.progs.push_back(prog);
    out.links.push_back(std::move(l));
  }
  return out;
}

}  // namespace

// What start_once() carries from one step to the next.
struct Probes::Plan {
  Detection host;
  std::vector<Choice> choice;  // per hook; load() turns fentry into kprobe when the kernel refuses fentry
  // Programs this instance attaches (kRun), with their hook's index; program names are <kp|kr|fe|fx>_<hook name>
  // (programs_of checks them against the skeleton), the va_grow fexit is the chosen variant.
  std::vector<std::pair<std::size_t, std::string>> want_links;
  std::string pin_dir;  // our layout's directory when pinning
  bool reuse = false;   // take over the pinned state in pin_dir
};

Probes::~Probes() = default;

std::unique_ptr<Probes> Probes::start(const Options& options) {
  auto p = start_once(options, true);
  if (!p->reuse_failed_) return p;
  spdlog::warn("{}",
               log_fields("taking over the pinned state failed; starting with fresh state", {{"collector", "ebpf"}}));
  p.reset();
  return start_once(options, false);  // removes the unusable state and its kprobe events, as for a mismatch
}

void Probes::all_off(const std::string& reason) {
  for (auto& st : states_)
    if (!st.attached && st.reason.empty()) st.reason = reason;
}

std::unique_ptr<Probes> Probes::start_once(const Options& options, bool allow_reuse) {
  install_libbpf_log();
  std::unique_ptr<Probes> p(new Probes());
  p->stats_enabled_path_ = options.proc_path + "/sys/kernel/bpf_stats_enabled";
  p->boot_id_ = read_first_line(options.proc_path + "/sys/kernel/random/boot_id");
  const auto& specs = hook_specs();
  Plan plan;
  plan.host = detect(options);
  const std::vector<HookChoice> chosen = choose(plan.host, options);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    p->states_.push_back(ProbeState{specs[i].name, specs[i].function, "", false, chosen[i].reason});
    plan.choice.push_back(chosen[i].how);
  }
  if (options.mode == Mode::kRun) {
    if (plan.choice[hook::va_grow] == Choice::kFentry)
      spdlog::info("{}",
                   log_fields("sgx_encl_grow return read", {{"collector", "ebpf"}, {"program", plan.host.grow_fexit}}));
    if (std::all_of(plan.choice.begin(), plan.choice.end(), [](Choice c) { return c == Choice::kOff; })) {
      const auto& states = p->states_;
      const bool same = std::all_of(states.begin(), states.end(),
                                    [&](const ProbeState& st) { return st.reason == states.front().reason; });
      if (same) {
        spdlog::info("{}", log_fields("no probe attached", {{"collector", "ebpf"}, {"reason", states.front().reason}}));
      } else {
        for (const auto& st : states) log_probe_off(st);
      }
      return p;
    }
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (plan.choice[i] == Choice::kOff) continue;
    const bool f = plan.choice[i] == Choice::kFentry;
    const std::string n = specs[i].name;
    if (!f || specs[i].fentry_entry) plan.want_links.emplace_back(i, (f ? "fe_" : "kp_") + n);
    if (specs[i].has_return)
      plan.want_links.emplace_back(i, f && i == hook::va_grow ? plan.host.grow_fexit : (f ? "fx_" : "kr_") + n);
  }
  if (options.mode == Mode::kRun && !options.pin_path.empty()) p->prepare_pins(options, allow_reuse, plan);
  if (!p->load(options, plan) || options.mode != Mode::kRun) return p;
  if (plan.reuse)
    p->adopt_pinned(options, plan);
  else
    p->attach(options, plan);
  return p;
}

// Pinned state: take over an earlier instance's (same layout id, same programs attached), else start fresh.
void Probes::prepare_pins(const Options& options, bool allow_reuse, Plan& plan) {
  state_.layout = layout_id(options.layout_tag);
  const std::string parent = options.pin_path.substr(0, options.pin_path.find_last_of('/'));
  if (is_bpffs(parent)) ::mkdir(options.pin_path.c_str(), 0700);  // only ever made on a BPF filesystem
  if (!is_bpffs(options.pin_path)) {
    spdlog::warn("{}", log_fields("pin path not on a mounted, writable BPF filesystem: state is not pinned, a restart "
                                  "starts over",
                                  {{"collector", "ebpf"}, {"pin_path", options.pin_path}, {"bpffs", parent}}));
    state_.layout.clear();
    return;
  }
  const std::string tracefs = tracefs_dir(options.sys_path);
  plan.pin_dir = options.pin_path + "/" + state_.layout;
  auto have = list_pins(plan.pin_dir);
  if (!have.empty()) {
    std::set<std::string> links, maps;
    for (const auto& h : have) {
      if (h.rfind("link_", 0) == 0) links.insert(h.substr(5));
      if (h.rfind("map_", 0) == 0) maps.insert(h.substr(4));
    }
    std::set<std::string> want;
    for (const auto& wl : plan.want_links) want.insert(wl.second);
    if (allow_reuse && links == want && !maps.empty()) {
      plan.reuse = true;
    } else {
      const Status removed = remove_layout_dir(plan.pin_dir).status;
      remove_pinned_tracefs_events(tracefs, state_.layout);
      spdlog::info("{}", log_fields("pinned state attaches other probes than this configuration: starting fresh",
                                    {{"collector", "ebpf"},
                                     {"pin_dir", plan.pin_dir},
                                     {"err", removed ? "" : removed.error().message}}));
    }
  }
  if (::mkdir(plan.pin_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    spdlog::warn("{}", log_fields("cannot make the pin directory: state is not pinned",
                                  {{"collector", "ebpf"}, {"pin_dir", plan.pin_dir}, {"err", std::strerror(errno)}}));
    plan.pin_dir.clear();
    state_.layout.clear();
    plan.reuse = false;
  }
}

// Opens the skeleton, sets what loads, reuses the pinned maps, loads. If the start-up iterators are refused, loads
// without them; if a fentry program is refused, falls back to kprobes for all hooks once. false: nothing loaded
// (every probe off with the reason), or the pinned maps cannot be taken over (reuse_failed_).
bool Probes::load(const Options& options, Plan& plan) {
  const Detection& d = plan.host;
  auto& choice = plan.choice;
  bool seeds_refused = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto obj = std::make_unique<Obj>();
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!options.btf_custom_path.empty()) open_opts.btf_custom_path = options.btf_custom_path.c_str();
    obj->skel.reset(epc_bpf__open_opts(&open_opts));
    if (!obj->skel) {
      load_status_ = make_error("opening the BPF object failed: " + errstr(errno), errno);
      break;
    }
    obj->skel->rodata->nr_free_pages_addr = d.kallsyms.nr_free_pages_addr;
    obj->skel->rodata->sgx_encl_fops_addr = d.kallsyms.encl_fops_addr;
    obj->skel->rodata->sgx_enclave_rdev = d.enclave_rdev;
    if (plan.reuse) {  // the maps of the pinned state, before load: our programs read and write the same maps
      bpf_map* m;
      bpf_object__for_each_map(m, obj->skel->obj) {
        if (bpf_map__is_internal(m)) continue;
        OwnedFd fd(bpf_obj_get((plan.pin_dir + "/map_" + bpf_map__name(m)).c_str()));  // reuse_fd takes a copy
        if (fd.get() < 0 || bpf_map__reuse_fd(m, fd.get()) != 0) {
          spdlog::warn("{}", log_fields("pinned map unusable",
                                        {{"collector", "ebpf"}, {"map", bpf_map__name(m)}, {"err", errstr(errno)}}));
          reuse_failed_ = true;
          return false;
        }
      }
    }
    auto progs = programs_of(obj->skel.get());
    for (std::size_t i = 0; i < progs.size(); ++i) {
      const bool k = !plan.reuse && choice[i] == Choice::kKprobe, f = !plan.reuse && choice[i] == Choice::kFentry;
      bpf_program__set_autoload(progs[i].kp, k);
      if (progs[i].kr) bpf_program__set_autoload(progs[i].kr, k);
      if (progs[i].fe) bpf_program__set_autoload(progs[i].fe, f);
      if (progs[i].fx_alt) {
        bpf_program__set_autoload(progs[i].fx, f && d.grow_fexit == bpf_program__name(progs[i].fx));
        bpf_program__set_autoload(progs[i].fx_alt, f && d.grow_fexit == bpf_program__name(progs[i].fx_alt));
      } else if (progs[i].fx) {
        bpf_program__set_autoload(progs[i].fx, f);
      }
    }
    bpf_program__set_autoload(obj->skel->progs.epc_event_repeat, options.load_bench_program);
    const bool seed = !seeds_refused && (options.mode == Mode::kLoadCheck ||
                                         (options.mode == Mode::kRun && !plan.reuse && options.discover &&
                                          (d.kallsyms.encl_fops_addr != 0 || d.enclave_rdev != 0)));
    bpf_program__set_autoload(obj->skel->progs.seed_task_file, seed && d.iter_file);
    bpf_program__set_autoload(obj->skel->progs.seed_task_vma, seed && d.iter_vma);
    int err = epc_bpf__load(obj->skel.get());
    if (err == 0) {
      obj_ = std::move(obj);
      load_status_ = Status::Ok();
      break;
    }
    load_status_ = make_error(
        "loading the BPF object failed: " + errstr(err) + " (libbpf's log at --log.level=debug)", err < 0 ? -err : err);
    if (seed && (d.iter_file || d.iter_vma) && options.mode == Mode::kRun) {
      spdlog::warn("{}", log_fields("start-up iterators refused; loading without them: enclaves older than the probes "
                                    "stay untracked",
                                    {{"collector", "ebpf"}, {"err", errstr(err)}}));
      seeds_refused = true;
      continue;
    }
    bool had_fentry = false;
    for (auto& c : choice)
      if (c == Choice::kFentry) {
        had_fentry = true;
        c = Choice::kKprobe;
      }
    if (!had_fentry) break;
    spdlog::warn("{}", log_fields("fentry/fexit programs refused; retrying with kprobes",
                                  {{"collector", "ebpf"}, {"err", errstr(err)}}));
  }
  if (!obj_) {
    spdlog::warn("{}", log_fields("BPF object not loaded", {{"collector", "ebpf"}, {"err", load_error()}}));
    all_off(load_error());
    return false;
  }
  return true;
}

// The pinned links stay attached; we hold them (and their programs, for the stats).
void Probes::adopt_pinned(const Options& options, Plan& plan) {
  const std::string tracefs = tracefs_dir(options.sys_path);
  if (!tracefs.empty()) remove_stale_tracefs_events(tracefs, options.proc_path);
  std::size_t attached = 0;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    if (plan.choice[i] == Choice::kOff) continue;
    for (const auto& [hook, name] : plan.want_links) {
      if (hook != i) continue;
      LinkPtr l(bpf_link__open((plan.pin_dir + "/link_" + name).c_str()));
      if (!l) {
        spdlog::warn(
            "{}", log_fields("pinned link unusable", {{"collector", "ebpf"}, {"link", name}, {"err", errstr(errno)}}));
        reuse_failed_ = true;
        return;
      }
      bpf_link_info info{};
      __u32 len = sizeof(info);
      OwnedFd prog_fd;
      if (bpf_obj_get_info_by_fd(bpf_link__fd(l.get()), &info, &len) == 0)
        prog_fd = OwnedFd(bpf_prog_get_fd_by_id(info.prog_id));
      obj_->links.push_back(std::move(l));
      const int fd = prog_fd.get();
      obj_->attached_progs.push_back(AttachedProgram{name, fd, std::move(prog_fd)});
    }
    auto& st = states_[i];
    st.attached = true;
    st.attach_type = plan.choice[i] == Choice::kFentry ? "fentry" : "kprobe";
    ++attached;
  }
  // The kretprobe events the pinned links use (made by the instance that pinned them), for their miss counts.
  if (!tracefs.empty()) {
    const std::string group = kPinnedGroupPrefix + state_.layout;
    for (const auto& ev : read_kprobe_events(tracefs))
      if (ev.group == group) obj_->tracefs_events.push_back({tracefs, group, ev.event});
  }
  obj_->keep_tracefs_events = true;
  state_.pinned = true;
  state_.reused = true;
  state_.discovery = "not_needed";
  spdlog::info("{}",
               log_fields("took over the pinned state (counting while no exporter ran)",
                          {{"collector", "ebpf"}, {"pin_dir", plan.pin_dir}, {"attached", std::to_string(attached)}}));
}

// Attaches each chosen hook (its kretprobe through tracefs, for maxactive), pins maps and links when pinning, finds
// the enclaves that already exist, and removes the pinned state of other layouts.
void Probes::attach(const Options& options, Plan& plan) {
  const auto& specs = hook_specs();
  std::string& pin_dir = plan.pin_dir;
  auto progs = programs_of(obj_->skel.get());
  std::size_t attached = 0;
  const std::string tracefs = tracefs_dir(options.sys_path);
  if (!tracefs.empty()) remove_stale_tracefs_events(tracefs, options.proc_path);
  const std::string group =
      pin_dir.empty() ? kTracefsGroupPrefix + std::to_string(::getpid()) : kPinnedGroupPrefix + state_.layout;
  if (!pin_dir.empty()) {
    remove_pinned_tracefs_events(tracefs, state_.layout);  // left by an instance that died before pinning
    if (!pin_maps(obj_->skel->obj, pin_dir)) {
      (void)remove_layout_dir(pin_dir);
      pin_dir.clear();
    }
  }
  bool pin_failed = false;
  for (std::size_t i = 0; i < progs.size(); ++i) {
    if (plan.choice[i] == Choice::kOff) continue;
    const bool f = plan.choice[i] == Choice::kFentry;
    auto& st = states_[i];
    auto hook = attach_hook(progs[i], f, plan.host.grow_fexit, specs[i].function, tracefs, group);
    if (!hook) {
      st.reason = hook.error().message;
      continue;
    }
    obj_->tracefs_events.insert(obj_->tracefs_events.end(), hook->events.begin(), hook->events.end());
    for (auto* prog : hook->progs)
      obj_->attached_progs.push_back(AttachedProgram{bpf_program__name(prog), bpf_program__fd(prog), {}});
    if (!pin_dir.empty() && !pin_failed) {
      for (std::size_t k = 0; k < hook->links.size() && !pin_failed; ++k) {
        const char* name = bpf_program__name(hook->progs[k]);
        if (bpf_link__pin(hook->links[k].get(), (pin_dir + "/link_" + name).c_str()) != 0) {
          spdlog::warn("{}", log_fields("pinning a link failed: state is not pinned, a restart starts over",
                                        {{"collector", "ebpf"}, {"link", name}, {"err", errstr(errno)}}));
          pin_failed = true;
        }
      }
    }
    for (auto& l : hook->links) obj_->links.push_back(std::move(l));
    st.attached = true;
    st.attach_type = f ? "fentry" : "kprobe";
    ++attached;
  }
  if (!pin_dir.empty() && pin_failed) {
    for (auto& l : obj_->links) bpf_link__unpin(l.get());
    (void)remove_layout_dir(pin_dir);
    pin_dir.clear();
  }
  if (!pin_dir.empty() && attached > 0) {
    state_.pinned = true;
    obj_->keep_tracefs_events = true;
  } else if (!pin_dir.empty()) {
    (void)remove_layout_dir(pin_dir);
  }
  if (!state_.pinned) state_.layout.clear();
  spdlog::info("{}", log_fields("probes attached", {{"collector", "ebpf"},
                                                    {"attached", std::to_string(attached)},
                                                    {"probes", std::to_string(progs.size())},
                                                    {"pinned_in", state_.pinned ? pin_dir : ""}}));
  if (!options.discover)
    state_.discovery = "off";
  else if (attached > 0)
    discover_enclaves();
  // Pinned state of other layouts (another version of the exporter) goes only now: its probes counted until ours
  // were attached and had found the live enclaves, so no event falls in between. Its maps are never read.
  if (options.mode == Mode::kRun && !options.pin_path.empty() && is_bpffs(options.pin_path)) {
    const std::string& mine = state_.layout;  // "" when this instance is not pinned
    for (const auto& other : list_pins(options.pin_path)) {
      if (other == mine) continue;
      const UnpinOutcome r = remove_layout_dir(options.pin_path + "/" + other);
      spdlog::info("{}", log_fields("removed pinned state of another map layout",
                                    {{"collector", "ebpf"},
                                     {"layout", other},
                                     {"objects", std::to_string(r.removed)},
                                     {"err", r.status ? "" : r.status.error().message}}));
      remove_pinned_tracefs_events(tracefs, other);
    }
  }
  for (const auto& st : states_) {
    if (st.attached)
      spdlog::debug(
          "{}",
          log_fields("probe attached",
                     {{"collector", "ebpf"}, {"probe", st.name}, {"function", st.function}, {"via", st.attach_type}}));
    else
      log_probe_off(st);
  }
  if (plan.host.kallsyms.nr_free_pages_addr == 0)
    spdlog::warn("{}", log_fields("sgx_nr_free_pages address unknown (kallsyms hides it?): no node free EPC",
                                  {{"collector", "ebpf"}}));
}

// Runs the start-up iterators once (enclaves that existed before the probes: epc.bpf.c, seed_*). The probes are
// attached already, so an enclave created meanwhile is in the map and left alone by the iterators.
void Probes::discover_enclaves() {
  auto* skel = obj_->skel.get();
  std::uint32_t zero = 0;
  epc_node_stats before{}, after{};
  bpf_map_lookup_elem(bpf_map__fd(skel->maps.node), &zero, &before);
  int ran = 0;
  std::string why;
  for (bpf_program* prog : {skel->progs.seed_task_file, skel->progs.seed_task_vma}) {
    if (!bpf_program__autoload(prog) || bpf_program__fd(prog) < 0) continue;
    LinkPtr l(bpf_program__attach_iter(prog, nullptr));
    if (!l) {
      why = std::string("attaching ") + bpf_program__name(prog) + ": " + errstr(errno);
      continue;
    }
    OwnedFd fd(bpf_iter_create(bpf_link__fd(l.get())));
    if (fd.get() < 0) {
      why = std::string("bpf_iter_create ") + bpf_program__name(prog) + ": " + errstr(errno);
      continue;
    }
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) {
    }
    if (n < 0) why = std::string("reading ") + bpf_program__name(prog) + ": " + errstr(errno);
    ++ran;
  }
  bpf_map_lookup_elem(bpf_map__fd(skel->maps.node), &zero, &after);
  if (ran == 0) {
    state_.discovery = "unavailable";
    spdlog::warn(
        "{}",
        log_fields(
            "cannot look for enclaves that existed before the exporter: they stay untracked "
            "until they end",
            {{"collector", "ebpf"},
             {"reason", why.empty() ? "no BPF task iterators in this kernel, or the enclave file cannot be recognised "
                                      "(no sgx_encl_fops in kallsyms and no /dev/sgx_enclave)"
                                    : why}}));
    return;
  }
  state_.discovery = "iterator";
  const std::uint64_t found = after.seed_found - before.seed_found, skipped = after.seed_skipped - before.seed_skipped;
  if (skipped)
    spdlog::warn("{}", log_fields("enclaves that existed before the exporter could not be read (too many VA pages, "
                                  "or changing while read): untracked until they end",
                                  {{"collector", "ebpf"},
                                   {"enclaves", std::to_string(skipped)},
                                   {"max_va_pages", std::to_string(EPC_SEED_MAX_VA_PAGES)}}));
  spdlog::info("{}", log_fields("found enclaves that existed before the probes (task iterators)",
                                {{"collector", "ebpf"}, {"enclaves", std::to_string(found - skipped)}, {"note", why}}));
}

int Probes::run_on_demand(int program_fd, const epc_test_event& event) {
  if (program_fd < 0) return -EBADF;
  epc_test_event ev = event;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ev, .ctx_size_in = sizeof(ev));
  if (bpf_prog_test_run_opts(program_fd, &opts) != 0) return -errno;
  return static_cast<int>(opts.retval);
}

}  // namespace epc::probes
