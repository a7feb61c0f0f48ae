//! Connection codes: the format (round trip, typos and other codes refused) and connecting by
//! code over 127.0.0.1, including refusing a device the code does not name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{Device, eventually, observation};
use mapeo_core::connection_code::{
    self, CODE_PREFIX, ConnectionCodeError, MAX_CODE_ADDRESSES, encode, parse,
};
use mapeo_core::schema::DocType;
use mapeo_core::sync::SyncPhase;
use mapeo_core::{DeviceId, Error, Query, RootKey};

const WAIT: Duration = Duration::from_secs(20);

fn device(seed: u8) -> DeviceId {
    RootKey::from_bytes([seed; 16]).device_keys().device_id()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

use common::loopback;

#[test]
fn a_code_round_trips() {
    let addrs = ips(&["192.168.43.1", "fe80::1", "10.0.0.7"]);
    let code = encode(&addrs, 47_000, &device(1)).unwrap();
    assert!(code.starts_with(CODE_PREFIX));
    assert!(
        code.len() < 100,
        "short enough for a QR code: {}",
        code.len()
    );
    assert!(
        code.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
        "QR alphanumeric mode"
    );
    let parsed = parse(&code).unwrap();
    assert_eq!(parsed.addrs(), addrs.as_slice());
    assert_eq!(parsed.port(), 47_000);
    assert!(parsed.matches(&device(1)));
    assert!(!parsed.matches(&device(2)));
    assert_eq!(
        parsed.socket_addrs()[0],
        "192.168.43.1:47000".parse::<SocketAddr>().unwrap()
    );
    // Lower case, spaces and dashes are fine.
    let grouped: String = code
        .to_lowercase()
        .chars()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-");
    assert_eq!(parse(&format!("  {grouped} ")).unwrap(), parsed);
    // IPv4-mapped IPv6 becomes IPv4; unspecified addresses are left out.
    let mixed = encode(&ips(&["::ffff:10.1.2.3", "0.0.0.0"]), 1, &device(1)).unwrap();
    assert_eq!(
        parse(&mixed).unwrap().addrs(),
        ips(&["10.1.2.3"]).as_slice()
    );
}

#[test]
fn every_single_character_typo_is_an_error() {
    let code = encode(&ips(&["192.168.1.20"]), 5000, &device(3)).unwrap();
    let alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let chars: Vec<char> = code.chars().collect();
    let mut tried = 0;
    for i in 0..chars.len() {
        for c in alphabet.chars().chain(['I', 'L', 'O', 'U', '!']) {
            if c == chars[i] {
                continue;
            }
            let mut typo = chars.clone();
            typo[i] = c;
            let typo: String = typo.into_iter().collect();
            assert!(parse(&typo).is_err(), "typo accepted at {i}: {c}");
            tried += 1;
        }
    }
    assert!(tried > 500);
    // Dropped, doubled and swapped characters.
    for i in 0..chars.len() {
        let mut dropped = chars.clone();
        dropped.remove(i);
        assert!(parse(&dropped.iter().collect::<String>()).is_err());
        let mut doubled = chars.clone();
        doubled.insert(i, chars[i]);
        assert!(parse(&doubled.iter().collect::<String>()).is_err());
        if i + 1 < chars.len() && chars[i] != chars[i + 1] {
            let mut swapped = chars.clone();
            swapped.swap(i, i + 1);
            assert!(parse(&swapped.iter().collect::<String>()).is_err());
        }
    }
}

#[test]
fn other_texts_are_refused_with_a_reason() {
    assert_eq!(parse(""), Err(ConnectionCodeError::NotACode));
    assert_eq!(
        parse("https://example.org"),
        Err(ConnectionCodeError::NotACode)
    );
    assert_eq!(
        parse("MP2ABCDEFGH"),
        Err(ConnectionCodeError::UnsupportedVersion)
    );
    assert_eq!(parse("MP1"), Err(ConnectionCodeError::BadChecksum));
    assert_eq!(parse("MP1ABC*"), Err(ConnectionCodeError::BadCharacter));
    assert_eq!(parse("MP1ÄÖ"), Err(ConnectionCodeError::BadCharacter));
    assert_eq!(parse(&"MP1".repeat(200)), Err(ConnectionCodeError::TooLong));
    assert_eq!(
        encode(&[], 1, &device(1)),
        Err(ConnectionCodeError::NoAddress)
    );
    assert_eq!(
        encode(&ips(&["::"]), 1, &device(1)),
        Err(ConnectionCodeError::NoAddress)
    );
    assert_eq!(
        encode(&ips(&["10.0.0.1"]), 0, &device(1)),
        Err(ConnectionCodeError::NoPort)
    );
    let many = vec!["10.0.0.1".parse().unwrap(); MAX_CODE_ADDRESSES + 1];
    assert_eq!(
        encode(&many, 1, &device(1)),
        Err(ConnectionCodeError::TooManyAddresses {
            max: MAX_CODE_ADDRESSES
        })
    );
    // Error messages never repeat the code.
    let code = encode(&ips(&["10.0.0.1"]), 9, &device(1)).unwrap();
    let mut typo = code.clone();
    typo.pop();
    typo.push('Z');
    if let Err(e) = parse(&typo) {
        assert!(!e.to_string().contains(&code[3..]));
    }
    assert_eq!(connection_code::fingerprint(&device(1)).len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_by_code_syncs_with_the_device_that_showed_it() {
    let a = Device::new(1);
    let b = Device::new(2);
    assert!(matches!(
        a.manager.connection_code(),
        Err(Error::NotListening)
    ));
    let (pa, pb) = common::shared_project(&a, &b);
    pa.create(observation(1.0, 1.0, "by code")).unwrap();
    a.manager.start_listening(loopback()).await.unwrap();
    // An address where nobody listens (a listens on 127.0.0.1 only) comes first: the next
    // one is tried.
    let code = a
        .manager
        .connection_code_for(&ips(&["127.0.0.2", "127.0.0.1"]))
        .unwrap();
    let peer = b.manager.connect_by_code(&code).await.unwrap();
    assert_eq!(peer, a.manager.device_id());
    b.manager
        .wait_for_sync(&pb.id(), SyncPhase::Full, WAIT)
        .await
        .unwrap();
    assert_eq!(pb.list(&Query::all(DocType::Observation)).unwrap().len(), 1);
    // Listening on every interface: the caller names the addresses.
    let all = a
        .manager
        .start_listening("0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    assert!(matches!(
        a.manager.connection_code(),
        Err(Error::ConnectionCode(ConnectionCodeError::NoAddress))
    ));
    let code = a.manager.connection_code_for(&ips(&["127.0.0.1"])).unwrap();
    assert_eq!(parse(&code).unwrap().port(), all.port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_answered_by_another_device_is_refused_and_leaves_no_session() {
    let a = Device::new(1);
    let b = Device::new(2);
    let addr = a.manager.start_listening(loopback()).await.unwrap();
    // A code naming device 3 at a's address: a answers, and is not device 3.
    let code = encode(&[addr.ip()], addr.port(), &device(3)).unwrap();
    let result = b.manager.connect_by_code(&code).await;
    assert!(matches!(result, Err(Error::WrongDevice)), "{result:?}");
    assert_eq!(b.manager.connection_count(), 0);
    assert!(b.manager.peers().is_empty());
    eventually("a drops the closed session", WAIT, || {
        a.manager.connection_count() == 0
    })
    .await;
    // The right code still works afterwards.
    let good = a.manager.connection_code().unwrap();
    assert_eq!(
        b.manager.connect_by_code(&good).await.unwrap(),
        a.manager.device_id()
    );
    assert_eq!(b.manager.connection_count(), 1);
    // A typo never dials.
    let mut typo = good.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    assert!(matches!(
        b.manager.connect_by_code(&typo).await,
        Err(Error::ConnectionCode(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_with_no_reachable_address_fails_in_bounded_time() {
    let b = Device::new(2);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let code = encode(&[dead.ip()], dead.port(), &device(1)).unwrap();
    let result = tokio::time::timeout(WAIT, b.manager.connect_by_code(&code))
        .await
        .unwrap();
    assert!(matches!(result, Err(Error::Net(_))), "{result:?}");
    assert_eq!(b.manager.connection_count(), 0);
}
