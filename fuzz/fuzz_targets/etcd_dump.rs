#![no_main]
// `etcdctl get -w json` dumps on arbitrary bytes: the source sniffer and the
// document stream `JsonDumpSource` reads files with (seeds: fixtures/etcd/*.json).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = atrest::etcd::sniff(data);
    let _ = atrest::etcd::dump::parse_documents(data);
});
