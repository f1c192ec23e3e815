#include "render.h"

#include <gtest/gtest.h>

using namespace epctop;

namespace {

Snapshot snap(const std::string& body, double t) {
  return std::get<Snapshot>(make_snapshot(std::get<0>(parse_prometheus_text(body)), t));
}

const char* kNode =
    "sgx_platform_info{cpu_sgx=\"1\",cpu_sgx_lc=\"1\",sgx1=\"1\",sgx2=\"1\",driver=\"in-kernel\"} 1\n"
    "sgx_exporter_build_info{version=\"0.1.0\",revision=\"x\",compiler=\"y\"} 1\n"
    "sgx_epc_capacity_bytes{numa_node=\"0\"} 34359738368\n"
    "sgx_epc_capacity_bytes{numa_node=\"1\"} 34359738368\n"
    "sgx_epc_free_bytes 51539607552\n"
    "sgx_epc_used_bytes 17179869184\n"
    "sgx_epc_reclaim_passes_total{reclaimer=\"ksgxd\"} 100\n"
    "sgx_epc_reclaim_passes_total{reclaimer=\"direct\"} 4\n"
    "sgx_vepc_bytes 4194304\n"
    "sgx_exporter_probe_attached{probe=\"a\"} 1\n"
    "sgx_exporter_probe_attached{probe=\"b\"} 1\n"
    "sgx_exporter_probe_attached{probe=\"c\"} 0\n"
    "sgx_enclaves{namespace=\"sgx-apps\",pod=\"enclave-db-0\",container=\"db\"} 1\n"
    "sgx_epc_resident_bytes{namespace=\"sgx-apps\",pod=\"enclave-db-0\",container=\"db\"} 2147483648\n"
    "sgx_epc_swapped_bytes{namespace=\"sgx-apps\",pod=\"enclave-db-0\",container=\"db\"} 536870912\n"
    "sgx_epc_evicted_pages_total{namespace=\"sgx-apps\",pod=\"enclave-db-0\",container=\"db\"} 1000\n"
    "sgx_enclave_page_fault_seconds_total{namespace=\"sgx-apps\",pod=\"enclave-db-0\",container=\"db\"} 10\n"
    "sgx_enclaves{namespace=\"default\",pod=\"quote-job-with-a-very-long-name-9tq4z\",container=\"quote\"} 2\n"
    "sgx_epc_resident_bytes{namespace=\"default\",pod=\"quote-job-with-a-very-long-name-9tq4z\",container=\"quote\"} 8388608\n"
    "sgx_epc_evicted_pages_total{namespace=\"default\",pod=\"quote-job-with-a-very-long-name-9tq4z\",container=\"quote\"} 50\n"
    "sgx_enclaves{cgroup=\"system.slice/aesmd.service\"} 3\n"
    "sgx_epc_resident_bytes{cgroup=\"system.slice/aesmd.service\"} 2097152\n";

// kNode with one enclave of sgx-apps/enclave-db-0/db in the inventory (sgx_enclave_info).
std::string with_identity(const std::string& debug, const std::string& enclave_label = "") {
  return std::string(kNode) + "sgx_enclave_info{namespace=\"sgx-apps\",pod=\"enclave-db-0\",container=\"db\"," +
         enclave_label + "mrenclave=\"0123456789abcdef\",mrsigner=\"fedcba9876543210\",isv_svn=\"7\",debug=\"" + debug +
         "\"} 1\n";
}

Frame frame(const Snapshot* cur, const Snapshot* prev) {
  Frame f;
  f.target = "127.0.0.1:9840";
  f.clock = "12:00:00";
  f.cur = cur;
  f.prev = prev;
  f.data_age_s = 0.5;
  return f;
}

}  // namespace

TEST(EpctopRender, Formats) {
  EXPECT_EQ(format_bytes(0), "0");
  EXPECT_EQ(format_bytes(512), "512B");
  EXPECT_EQ(format_bytes(1048576), "1.0M");
  EXPECT_EQ(format_bytes(268435456), "256M");
  EXPECT_EQ(format_bytes(68719476736.0), "64G");
  EXPECT_EQ(format_rate(0), "0");
  EXPECT_EQ(format_rate(0.001), "<0.01");
  EXPECT_EQ(format_rate(2.5), "2.50");
  EXPECT_EQ(format_rate(123.45), "123.5");
  EXPECT_EQ(format_rate(4321), "4321");
  EXPECT_EQ(format_rate(12345), "12.3k");
}

TEST(EpctopRender, Exact80x24ScreenFirstScrape) {
  Snapshot a = snap(kNode, 100);
  Screen s = render(frame(&a, nullptr), ViewState{}, 80, 24);
  ASSERT_EQ(s.lines.size(), 24u);
  for (const auto& l : s.lines) EXPECT_LE(l.size(), 80u) << l;
  EXPECT_EQ(s.lines[0], "epctop 127.0.0.1:9840  in-kernel SGX1 SGX2 FLC  exporter 0.1.0 12:00:00 every 2s");
  EXPECT_EQ(s.lines[1], "EPC 64G  used 16G  free 48G [##########..............................] 25.0%");
  EXPECT_EQ(s.lines[2], "NUMA  0: 32G  1: 32G  (used/free node-wide only)");
  EXPECT_EQ(s.lines[3], "reclaim/s ksgxd - direct -  vEPC 4.0M  probes 2/3  scrape 0.5s ago");
  EXPECT_EQ(s.lines[4], "level container  sort RESIDENT desc  ns all  3 rows");
  EXPECT_EQ(s.table_header, 5);
  // The numbers' columns are as wide as their numbers (short titles); the names get the rest: every pod whole
  // ("default" cut to "d~" before anything of the pod), one column (LOADB/s) hidden for it, and the status says so.
  EXPECT_EQ(s.lines[5].substr(s.sort_x, s.sort_w), "RESID");
  EXPECT_EQ(s.lines[5], "WORKLOAD                                       ENCL RESID SWAP EVICT FAULT STALL");
  EXPECT_EQ(s.lines[6], "sgx-apps/enclave-db-0/db                          1  2.0G 512M     -     -     -");
  EXPECT_EQ(s.lines[7], "d~/quote-job-with-a-very-long-name-9tq4z/quote    2  8.0M    -     -     -     -");
  EXPECT_EQ(s.lines[8], "system.slice/aesmd.service                        3  2.0M    -     -     -     -");
  EXPECT_EQ(s.lines[9], "");
  EXPECT_EQ(s.status, 23);
  EXPECT_EQ(s.lines[23], "1 column hidden (wider terminal)  h help  q quit");
  // Without the long name every column fits, with short titles so that system.slice/aesmd.service stays whole.
  std::string short_names = kNode;
  for (std::size_t at; (at = short_names.find("quote-job-with-a-very-long-name-9tq4z")) != std::string::npos;)
    short_names.replace(at, 37, "quote-9tq4z");
  Snapshot b = snap(short_names, 100);
  s = render(frame(&b, nullptr), ViewState{}, 80, 24);
  EXPECT_EQ(s.lines[5], "WORKLOAD                   ENCL RESID SWAP EVICT LOADB FAULT STALL");
  EXPECT_EQ(s.lines[7], "default/quote-9tq4z/quote     2  8.0M    -     -     -     -     -");
  EXPECT_EQ(s.lines[8], "system.slice/aesmd.service    3  2.0M    -     -     -     -     -");
  EXPECT_EQ(s.lines[23], "h help  q quit  / namespace  1 2 3 level  sort: n e r w v b f t");
}

TEST(EpctopRender, RatesSortFilterAndLevel) {
  Snapshot a = snap(kNode, 100);
  std::string body = kNode;
  body.replace(body.find("container=\"db\"} 1000"), 20, "container=\"db\"} 1400");  // +100/s
  body.replace(body.find("container=\"quote\"} 50"), 21, "container=\"quote\"} 850");  // +200/s
  body.replace(body.find("container=\"db\"} 10\n"), 19, "container=\"db\"} 12\n");    // 0.5 s/s
  body.replace(body.find("\"ksgxd\"} 100"), 12, "\"ksgxd\"} 112");
  Snapshot b = snap(body, 104);
  ViewState v;
  v.sort = Column::Evict;
  Screen s = render(frame(&b, &a), v, 80, 24);
  EXPECT_EQ(s.lines[3], "reclaim/s ksgxd 3.00 direct 0  vEPC 4.0M  probes 2/3  scrape 0.5s ago");
  EXPECT_EQ(s.lines[5], "WORKLOAD                                       ENCL RESID SWAP EVICT FAULT STALL");
  EXPECT_EQ(s.lines[5].substr(s.sort_x, s.sort_w), "EVICT");
  EXPECT_EQ(s.lines[6], "d~/quote-job-with-a-very-long-name-9tq4z/quote    2  8.0M    - 200.0     -     -");
  EXPECT_EQ(s.lines[7], "sgx-apps/enclave-db-0/db                          1  2.0G 512M 100.0     -  0.50");
  EXPECT_EQ(s.lines[8], "system.slice/aesmd.service                        3  2.0M    -     -     -     -");

  v.descending = false;
  s = render(frame(&b, &a), v, 80, 24);
  EXPECT_EQ(s.lines[6].substr(0, 8), "sgx-apps");
  EXPECT_EQ(s.lines[8].substr(0, 12), "system.slice");  // unknown last in both orders

  v = ViewState{};
  v.ns_filter = "sgx";
  s = render(frame(&b, &a), v, 80, 24);
  EXPECT_EQ(s.lines[4], "level container  sort RESIDENT desc  ns sgx  1 row");
  EXPECT_EQ(s.lines[6].substr(0, 24), "sgx-apps/enclave-db-0/db");
  EXPECT_EQ(s.lines[7], "");

  v = ViewState{};
  v.level = Level::Pod;
  s = render(frame(&b, &a), v, 80, 24);
  EXPECT_EQ(s.lines[6].substr(0, 22), "sgx-apps/enclave-db-0 ");

  v.level = Level::Enclave;
  s = render(frame(&b, &a), v, 80, 24);
  EXPECT_EQ(s.lines[6], "no per-enclave data: this exporter exports no sgx_enclave_info series. The");
  EXPECT_EQ(s.lines[7], "enclave level needs them; press 1 (pod) or 2 (container).");
}

TEST(EpctopRender, ErrorLineKeepsTheLastData) {
  Snapshot a = snap(kNode, 100);
  Frame f = frame(&a, nullptr);
  f.error = "Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server";
  f.retry_in_s = 2;
  f.data_age_s = 12;
  Screen s = render(f, ViewState{}, 160, 24);
  EXPECT_TRUE(s.status_is_error);
  EXPECT_EQ(s.status, 23);
  EXPECT_EQ(s.lines[23],
            "ERROR: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server; retry in 2s; "
            "data shown is 12s old");
  EXPECT_EQ(s.lines[6].substr(0, 24), "sgx-apps/enclave-db-0/db");

  // At 80 columns the error takes the lines it needs at the bottom; nothing of it is cut.
  s = render(f, ViewState{}, 80, 24);
  EXPECT_EQ(s.status, 22);
  EXPECT_EQ(s.lines[22], "ERROR: Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to");
  EXPECT_EQ(s.lines[23], "server; retry in 2s; data shown is 12s old");
  EXPECT_EQ(s.lines[6].substr(0, 24), "sgx-apps/enclave-db-0/db");

  Frame none = frame(nullptr, nullptr);
  none.error = "HTTP 404 Not Found";
  s = render(none, ViewState{}, 80, 24);
  EXPECT_EQ(s.lines[6], "no data from 127.0.0.1:9840 (the error is below)");
  EXPECT_EQ(s.lines[23], "ERROR: HTTP 404 Not Found; retry in 0s");
  none.error = "not Prometheus text: line 102: response truncated (last line has no end of line) and more words here";
  s = render(none, ViewState{}, 60, 24);
  EXPECT_EQ(s.status, 21);
  EXPECT_EQ(s.lines[21], "ERROR: not Prometheus text: line 102: response truncated");
  EXPECT_EQ(s.lines[22], "(last line has no end of line) and more words here; retry in");
  EXPECT_EQ(s.lines[23], "0s");
  // An error longer than four lines ends in "...", within the width.
  none.error = std::string(400, 'x') + " " + std::string(20, 'y');
  s = render(none, ViewState{}, 80, 24);
  EXPECT_EQ(s.status, 20);
  EXPECT_EQ(s.lines[23].size(), 80u);
  EXPECT_EQ(s.lines[23].substr(77), "...");
}

// Nothing of the status, help or error lines is cut on an 80x24 terminal, whatever is shown together.
TEST(EpctopRender, NothingCutAt80x24) {
  Snapshot a = snap(kNode, 100);
  ViewState v;
  v.help = true;
  Screen s = render(frame(&a, nullptr), v, 80, 24);
  for (std::size_t i = 0; i < help_lines().size(); ++i) {
    EXPECT_LE(help_lines()[i].size(), 80u) << help_lines()[i];
    EXPECT_EQ(s.lines[6 + i], help_lines()[i]);
  }
  Frame f = frame(&a, nullptr);
  f.note = "DEMO: made-up numbers (tests/fixtures/aks-dcsv3)";
  s = render(f, ViewState{}, 80, 24);
  EXPECT_EQ(s.lines[23], "DEMO: made-up numbers (tests/fixtures/aks-dcsv3)  +1 cols  h help  q quit");
  f.error = "Operation timed out after 5000 milliseconds with 0 out of -1 bytes received from 127.0.0.1:9840";
  s = render(f, ViewState{}, 80, 24);
  std::string joined;
  for (int i = s.status; i < 24; ++i) joined += (joined.empty() ? "" : " ") + s.lines[i];
  EXPECT_NE(joined.find(f.error + "; retry in 0s; data shown is 0.5s old"), std::string::npos) << joined;
  for (const auto& l : s.lines) EXPECT_LE(l.size(), 80u) << l;
}

TEST(EpctopRender, FitNameKeepsThePodWhole) {
  Row r;
  r.ns = "confidential-computing";
  r.pod = "inference-gateway-7d9f8c6b5-xk2lp";
  r.rest = "gateway";
  r.name = r.ns + "/" + r.pod + "/" + r.rest;
  EXPECT_EQ(fit_name(r, 100), r.name);
  EXPECT_EQ(fit_name(r, 50), "confide~/inference-gateway-7d9f8c6b5-xk2lp/gateway");
  EXPECT_EQ(fit_name(r, 43), "~/inference-gateway-7d9f8c6b5-xk2lp/gateway");
  EXPECT_EQ(fit_name(r, 40), "~/inference-gateway-7d9f8c6b5-xk2lp/gat~");
  EXPECT_EQ(fit_name(r, 35), "~/inference-gateway-7d9f8c6b5-xk2lp");
  EXPECT_EQ(fit_name(r, 20), "inference-~6b5-xk2lp");  // last resort: the pod cut in the middle
  EXPECT_LE(fit_name(r, 20).size(), 20u);
  Row uid;  // a pod without kubelet names: no namespace ("-"), the pod uid, the container id
  uid.pod = "d4c3b2a1-0f9e-4d8c-b7a6-958473625140";
  uid.rest = "92d7eda35489";
  uid.name = "-/" + uid.pod + "/" + uid.rest;
  EXPECT_EQ(fit_name(uid, 40), "-/d4c3b2a1-0f9e-4d8c-b7a6-958473625140/~");
  Row cg;
  cg.name = "system.slice/very-long-unit-name-of-a-service.service";
  EXPECT_EQ(fit_name(cg, 20), "system.sli~e.service");
}

// Batch output to a file or pipe (width 0): every column with its long title, every name whole, nothing padded
// beyond the content.
TEST(EpctopRender, ContentWidthCutsNothing) {
  Snapshot a = snap(with_identity("true", "enclave=\"e1\","), 100);
  Screen s = render(frame(&a, nullptr), ViewState{}, 0, 40);
  EXPECT_EQ(s.lines[5], "WORKLOAD                                            ENCL RESIDENT  SWAPPED EVICT/s LOADB/s "
                        "FAULT/s STALL/s    MRENCLAVE     MRSIGNER   SVN DBG");
  EXPECT_EQ(s.lines[7], "default/quote-job-with-a-very-long-name-9tq4z/quote    2     8.0M        -       -       - "
                        "      -       -            -            -     -   -");
  std::size_t widest = 0;
  for (const auto& l : s.lines) widest = std::max(widest, l.size());
  EXPECT_EQ(widest, s.lines[5].size());
  EXPECT_EQ(s.lines[0].size(), widest);  // the clock right-aligned on the content's width
}

TEST(EpctopRender, DegradesOnSmallTerminals) {
  Snapshot a = snap(kNode, 100);
  Screen s = render(frame(&a, nullptr), ViewState{}, 50, 9);
  ASSERT_EQ(s.lines.size(), 9u);
  for (const auto& l : s.lines) EXPECT_LE(l.size(), 50u) << l;
  EXPECT_EQ(s.lines[5], "WORKLOAD                   RESID EVICT FAULT STALL");
  EXPECT_EQ(s.lines[6], "sgx-apps/enclave-db-0/db    2.0G     -     -     -");
  EXPECT_EQ(s.lines[7], "... 2 more (filter with /, or a taller terminal)");
  EXPECT_EQ(s.lines[8], "3 columns hidden (wider terminal)  h help  q quit");
  s = render(frame(&a, nullptr), ViewState{}, 30, 5);
  ASSERT_EQ(s.lines.size(), 5u);
  EXPECT_EQ(s.lines[0], "epctop: terminal 30x5 too smal");
}

TEST(EpctopRender, IdentityColumnsWhenWide) {
  Snapshot a = snap(with_identity("false"), 100);
  Screen s = render(frame(&a, nullptr), ViewState{}, 160, 24);
  EXPECT_EQ(s.lines[5], "WORKLOAD                                            ENCL RESIDENT  SWAPPED EVICT/s LOADB/s "
                        "FAULT/s STALL/s    MRENCLAVE     MRSIGNER   SVN DBG");
  EXPECT_EQ(s.lines[6], "sgx-apps/enclave-db-0/db                               1     2.0G     512M       -       - "
                        "      -       - 0123456789ab fedcba987654     7  no");
  s = render(frame(&a, nullptr), ViewState{}, 120, 24);  // short titles make room for the identity
  EXPECT_EQ(s.lines[5], "WORKLOAD                                       ENCL RESID SWAP EVICT LOADB FAULT STALL    "
                        "MRENCLAVE     MRSIGNER SVN DBG");
  EXPECT_EQ(s.lines[6], "sgx-apps/enclave-db-0/db                          1  2.0G 512M     -     -     -     - "
                        "0123456789ab fedcba987654   7  no");
  s = render(frame(&a, nullptr), ViewState{}, 80, 24);
  EXPECT_EQ(s.lines[5].find("MRENCLAVE"), std::string::npos);
  EXPECT_EQ(s.lines[23], "5 columns hidden (wider terminal)  h help  q quit");
}

TEST(EpctopRender, HelpScreen) {
  Snapshot a = snap(kNode, 100);
  ViewState v;
  v.help = true;
  Screen s = render(frame(&a, nullptr), v, 80, 24);
  EXPECT_EQ(s.lines[6], "epctop keys");
  EXPECT_EQ(s.lines[20], "was reset, its new value is what it counted since. '-': no data (yet).");
}

TEST(EpctopRender, ControlBytesInLabelsDoNotReachTheTerminal) {
  // An escaped newline (\n in the page), a raw ESC byte and UTF-8: none reaches the terminal as such.
  Snapshot a = snap("sgx_enclaves{namespace=\"n\\ns\",pod=\"p\x1b[2J\",container=\"c\"} 1\n"
                    "sgx_enclaves{cgroup=\"caf\xc3\xa9\"} 1\n", 0);
  Screen s = render(frame(&a, nullptr), ViewState{}, 80, 24);
  EXPECT_EQ(s.lines[6].substr(0, 12), "caf??       ");
  EXPECT_EQ(s.lines[7].substr(0, 12), "n?s/p?[2J/c ");
}
