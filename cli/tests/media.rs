//! Photos and audio on the command line: `observation add --photo/--audio`, what `show`
//! says of each variant, files that are not media refused with nothing stored, the zip
//! export's media, and photos moving between separate `mapeo` processes by each device's
//! blob policy (archive or previews only).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::{Peer, SYNC_TIMEOUT, eventually};
use serde_json::Value;

/// A real JPEG, `w`×`h`, whose pixels depend on `seed`.
fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x % 256) as u8 ^ seed,
            (y % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
}

/// A short mono 8 kHz 16-bit PCM WAV recording.
fn wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let v = ((i % 40) as i16 - 20) * 800;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn write(peer: &Peer, name: &str, bytes: &[u8]) -> String {
    let path = peer.tmp.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Every file under a `blobs` folder of the peer's data folder.
fn blob_files(peer: &Peer) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, in_blobs: bool, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let blobs = in_blobs || e.file_name() == "blobs";
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), blobs, out);
            } else if blobs {
                out.insert(e.path());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&peer.dir(), false, &mut out);
    out
}

/// The variant entry of one attachment in `observation show --json` output.
fn variant<'a>(media: &'a Value, variant: &str) -> &'a Value {
    media["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["variant"] == variant)
        .unwrap_or_else(|| panic!("no {variant} in {media:#}"))
}

/// The bytes of one variant, saved with `observation save-media` (media are sealed in the
/// data folder: there is no file to read).
fn read_variant(peer: &Peer, pid: Option<&str>, media: &Value, name: &str) -> Vec<u8> {
    let hash = variant(media, name)["hash"].as_str().unwrap().to_owned();
    let out = peer.tmp.path().join(format!("saved-{hash}"));
    let mut args = Vec::new();
    if let Some(pid) = pid {
        args.extend(["-p", pid]);
    }
    args.extend([
        "observation",
        "save-media",
        &hash,
        "--out",
        out.to_str().unwrap(),
    ]);
    let saved = peer.json(&args);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(saved["size"], bytes.len());
    std::fs::remove_file(&out).unwrap();
    bytes
}

fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

fn entry<'a>(entries: &'a [(String, Vec<u8>)], suffix: &str) -> &'a (String, Vec<u8>) {
    entries
        .iter()
        .find(|(n, _)| n.ends_with(suffix))
        .unwrap_or_else(|| {
            panic!(
                "no entry ending {suffix:?} in {:?}",
                entries.iter().map(|(n, _)| n).collect::<Vec<_>>()
            )
        })
}

fn missing_list(entries: &[(String, Vec<u8>)]) -> Vec<Value> {
    let (_, bytes) = entry(entries, "/missing.ndjson");
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_photo_and_an_audio_recording_are_attached_with_their_variants_here() {
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let photo = jpeg(1600, 1200, 7);
    let audio = wav(16_000);
    let photo_path = write(&peer, "dredge.jpg", &photo);
    let audio_path = write(&peer, "voice-note.wav", &audio);
    let added = peer.json(&[
        "observation",
        "add",
        "--lat",
        "-3.46",
        "--lon",
        "-62.21",
        "--notes",
        "dredge at night",
        "--photo",
        &photo_path,
        "--audio",
        &audio_path,
    ]);
    let attachments = added["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0]["name"], "dredge.jpg");
    assert_eq!(attachments[0]["type"], "photo");
    assert_eq!(attachments[1]["name"], "voice-note.wav");
    assert_eq!(attachments[1]["type"], "audio");

    let id = added["docId"].as_str().unwrap();
    let shown = peer.json(&["observation", "show", id]);
    assert_eq!(shown["media"], added["media"]);
    let media = shown["media"].as_array().unwrap();
    let (p, a) = (&media[0], &media[1]);
    assert_eq!(p["known"], true);
    assert_eq!(p["hash"], attachments[0]["hash"]);
    let names: Vec<&str> = p["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["original", "preview", "thumbnail"]);
    for v in p["variants"].as_array().unwrap() {
        assert_eq!(v["here"], true, "{v:#}");
        assert_eq!(v["mimeType"], "image/jpeg");
    }
    assert_eq!(variant(p, "original")["size"], photo.len());
    assert_eq!(
        read_variant(&peer, None, p, "original"),
        photo,
        "the original, byte for byte"
    );
    let preview = image::load_from_memory(&read_variant(&peer, None, p, "preview")).unwrap();
    assert_eq!((preview.width(), preview.height()), (1200, 900));
    let thumb = image::load_from_memory(&read_variant(&peer, None, p, "thumbnail")).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (400, 300));
    assert_eq!(a["type"], "audio");
    let audio_variants = a["variants"].as_array().unwrap();
    assert_eq!(audio_variants.len(), 1);
    assert_eq!(audio_variants[0]["variant"], "original");
    assert_eq!(audio_variants[0]["here"], true);
    assert!(
        audio_variants[0]["mimeType"]
            .as_str()
            .unwrap()
            .starts_with("audio/")
    );
    assert_eq!(read_variant(&peer, None, a, "original"), audio);

    // For people: every variant with its state.
    let text = peer.run(&["observation", "show", id]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Attachment: dredge.jpg (photo)"), "{text}");
    assert!(text.contains("thumbnail"), "{text}");
    assert!(
        text.contains("Attachment: voice-note.wav (audio)"),
        "{text}"
    );
    assert_eq!(text.matches(" here").count(), 4, "{text}");

    // Edit adds more, keeping what was there.
    let second = write(&peer, "river.jpg", &jpeg(300, 200, 9));
    let edited = peer.json(&["observation", "edit", id, "--photo", &second]);
    let names: Vec<&str> = edited["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dredge.jpg", "voice-note.wav", "river.jpg"]);
    assert_eq!(edited["media"][2]["variants"][0]["here"], true);
}

#[test]
fn a_file_that_is_not_media_is_refused_and_nothing_is_stored() {
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let kept = peer.json(&["observation", "add", "--lat", "1", "--lon", "2"]);
    let kept_id = kept["docId"].as_str().unwrap().to_owned();
    let photo = jpeg(640, 480, 1);
    let good = write(&peer, "good.jpg", &photo);
    let text = write(&peer, "notes.txt", b"not a photo at all, just words\n");
    let cut = write(&peer, "cut.jpg", &photo[..photo.len() / 2]);
    let empty = write(&peer, "empty.jpg", b"");
    let gone = peer.tmp.path().join("gone.jpg");
    let before_list = peer.json(&["observation", "list"]);
    let before_blobs = blob_files(&peer);
    let unchanged = |what: &str| {
        assert_eq!(
            peer.json(&["observation", "list"]),
            before_list,
            "{what}: observations changed"
        );
        assert_eq!(blob_files(&peer), before_blobs, "{what}: blobs changed");
    };
    let add = |extra: &[&str]| {
        let mut args = vec!["observation", "add", "--lat", "3", "--lon", "4"];
        args.extend_from_slice(extra);
        peer.fail(&args)
    };

    let (exit, err) = add(&["--photo", &text]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "bad_media");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("notes.txt"), "{message}");
    assert!(message.contains("nothing was stored"), "{message}");
    unchanged("a text file as a photo");

    // A good photo before a bad file is not stored either.
    let (_, err) = add(&["--photo", &good, "--audio", &text]);
    assert_eq!(err["kind"], "bad_media");
    unchanged("a good photo with a bad recording");

    let (_, err) = add(&["--audio", &good]);
    assert_eq!(err["kind"], "bad_media");
    assert!(
        err["message"].as_str().unwrap().contains("it is a photo"),
        "{err}"
    );
    unchanged("a photo as audio");

    let (_, err) = add(&["--photo", &good, "--photo", &cut]);
    assert_eq!(err["kind"], "bad_media", "a JPEG cut short");
    unchanged("a JPEG cut short");

    let (_, err) = add(&["--photo", &empty]);
    assert_eq!(err["kind"], "bad_media");
    unchanged("an empty file");

    let (exit, err) = add(&["--photo", gone.to_str().unwrap()]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "file");
    unchanged("a missing file");

    let dir = peer.tmp.path().to_str().unwrap().to_owned();
    let (_, err) = add(&["--photo", &dir]);
    assert_eq!(err["kind"], "bad_media");
    unchanged("a folder");

    // Good media with a bad observation: the media is not stored.
    let (_, err) = peer.fail(&[
        "observation",
        "add",
        "--lat",
        "3",
        "--lon",
        "4",
        "--tag",
        &format!("huge={}", "x".repeat(100_001)),
        "--photo",
        &good,
    ]);
    assert_eq!(err["kind"], "bad_input", "{err}");
    unchanged("an observation the core refuses");

    let (_, err) = peer.fail(&["observation", "edit", &kept_id, "--photo", &text]);
    assert_eq!(err["kind"], "bad_media");
    unchanged("an edit with a text file");

    // The same photo goes in once checked.
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "3",
        "--lon",
        "4",
        "--photo",
        &good,
    ]);
    assert_eq!(blob_files(&peer).len(), before_blobs.len() + 3);
}

/// The blob-index records this device has written to `project` (its own `blobIndex` feed
/// length): a record stays stored even when no observation names it.
fn blob_index_records(peer: &Peer, project: &str) -> u64 {
    let text = std::fs::read_to_string(peer.dir().join("root.key")).unwrap();
    let text = text.trim();
    let mut key = [0u8; 16];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    let manager =
        mapeo_core::Manager::open(&peer.dir(), &mapeo_core::RootKey::from_bytes(key)).unwrap();
    let me = manager.device_id();
    let p = manager.open_project(&project.parse().unwrap()).unwrap();
    p.have_vector()
        .unwrap()
        .get(&(me, mapeo_core::Namespace::BlobIndex))
        .copied()
        .unwrap_or(0)
}

/// The `blobs` folder of the peer's only project.
fn blobs_dir(peer: &Peer) -> PathBuf {
    let projects = peer.dir().join("projects");
    let mut found = Vec::new();
    for e in std::fs::read_dir(projects).unwrap() {
        let dir = e.unwrap().path().join("blobs");
        if dir.is_dir() {
            found.push(dir);
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn hash_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[test]
fn a_file_the_store_cannot_write_after_others_were_stored_leaves_every_store_unchanged() {
    let peer = Peer::new();
    let pid = peer.with_project("Ana", "Río Negro");
    let kept = peer.json(&["observation", "add", "--lat", "1", "--lon", "2"]);
    let kept_id = kept["docId"].as_str().unwrap().to_owned();
    let photo = write(&peer, "dredge.jpg", &jpeg(800, 600, 5));
    let first = wav(800);
    // The second recording's blob goes to another shard folder than the first's.
    let second = (801..)
        .map(wav)
        .find(|w| hash_hex(w)[..2] != hash_hex(&first)[..2])
        .unwrap();
    let shard = hash_hex(&second)[..2].to_owned();
    let one = write(&peer, "one.wav", &first);
    let two = write(&peer, "two.wav", &second);
    // Every file passes the checks; storing the second recording then fails, as on a full
    // disk: a plain file stands where its shard folder would be made.
    let blocker = blobs_dir(&peer).join(&shard);
    std::fs::write(&blocker, b"in the way").unwrap();
    let before_list = peer.json(&["observation", "list"]);
    let before_blobs = blob_files(&peer);
    let before_records = blob_index_records(&peer, &pid);
    let unchanged = |what: &str| {
        assert_eq!(
            peer.json(&["observation", "list"]),
            before_list,
            "{what}: observations changed"
        );
        assert_eq!(blob_files(&peer), before_blobs, "{what}: blobs changed");
        assert_eq!(
            blob_index_records(&peer, &pid),
            before_records,
            "{what}: blob-index records written"
        );
    };
    let media = ["--photo", &photo, "--audio", &one, "--audio", &two];

    let mut add = vec!["observation", "add", "--lat", "3", "--lon", "4"];
    add.extend_from_slice(&media);
    let (exit, err) = peer.fail(&add);
    unchanged("an add whose last file cannot be stored");
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "storage", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("two.wav"), "{message}");
    assert!(message.contains("nothing was stored"), "{message}");

    let mut edit = vec!["observation", "edit", &kept_id];
    edit.extend_from_slice(&media);
    let (_, err) = peer.fail(&edit);
    unchanged("an edit whose last file cannot be stored");
    assert_eq!(err["kind"], "storage", "{err}");

    // With the way clear the same command stores everything; the photo's and the first
    // recording's blobs are in other shards, so they had been stored, then removed.
    std::fs::remove_file(&blocker).unwrap();
    let added = peer.json(&add);
    let stored: Vec<String> = added["media"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["variants"].as_array().unwrap().clone())
        .map(|v| v["hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored.len(), 5);
    assert_eq!(stored[4], hash_hex(&second));
    for h in &stored[..4] {
        assert_ne!(h[..2], shard, "{h} would have failed first");
    }
    // Five blobs more, the file that stood in the way gone.
    assert_eq!(blob_files(&peer).len(), before_blobs.len() + 5 - 1);
    assert_eq!(blob_index_records(&peer, &pid), before_records + 3);
}

#[test]
fn a_member_editing_another_devices_observation_is_refused_before_any_media_is_stored() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let hers = ana.json(&["observation", "add", "--lat", "1", "--lon", "2"]);
    let hers_id = hers["docId"].as_str().unwrap().to_owned();
    let beto = Peer::new();
    beto.json(&["identity", "set-name", "Beto"]);
    ana.bring_in(&pid, &beto);
    assert_eq!(
        beto.json(&["-p", &pid, "observation", "show", &hers_id])["docId"],
        hers_id.as_str()
    );
    let photo = write(&beto, "river.jpg", &jpeg(640, 480, 2));
    let audio = write(&beto, "voice.wav", &wav(4000));
    let before_list = beto.json(&["-p", &pid, "observation", "list"]);
    let before_blobs = blob_files(&beto);
    let before_records = blob_index_records(&beto, &pid);

    let (exit, err) = beto.fail(&[
        "-p",
        &pid,
        "observation",
        "edit",
        &hers_id,
        "--photo",
        &photo,
        "--audio",
        &audio,
    ]);
    assert_eq!(exit, 1);
    assert_eq!(err["kind"], "not_allowed", "{err}");
    assert_eq!(beto.json(&["-p", &pid, "observation", "list"]), before_list);
    assert_eq!(blob_files(&beto), before_blobs, "media stored");
    assert_eq!(
        blob_index_records(&beto, &pid),
        before_records,
        "blob-index records written"
    );

    // His own observation he edits, with the same media.
    let his = beto.json(&["-p", &pid, "observation", "add", "--lat", "5", "--lon", "6"]);
    let edited = beto.json(&[
        "-p",
        &pid,
        "observation",
        "edit",
        his["docId"].as_str().unwrap(),
        "--photo",
        &photo,
    ]);
    assert_eq!(edited["attachments"][0]["name"], "river.jpg");
    assert_eq!(blob_files(&beto).len(), before_blobs.len() + 3);
}

#[test]
fn the_zip_holds_each_original_named_as_the_geojson_says() {
    let peer = Peer::new();
    peer.with_project("Ana", "Río Negro");
    let first = jpeg(900, 600, 3);
    let audio = wav(8_000);
    // Two photos with the same name from two places: their files must not collide.
    let a_dir = peer.tmp.path().join("a");
    let b_dir = peer.tmp.path().join("b");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let second = jpeg(500, 700, 4);
    std::fs::write(a_dir.join("IMG_0001.jpg"), &first).unwrap();
    std::fs::write(b_dir.join("IMG_0001.jpg"), &second).unwrap();
    let audio_path = write(&peer, "note.wav", &audio);
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "1",
        "--lon",
        "2",
        "--notes",
        "first",
        "--photo",
        a_dir.join("IMG_0001.jpg").to_str().unwrap(),
        "--audio",
        &audio_path,
    ]);
    peer.json(&[
        "observation",
        "add",
        "--lat",
        "1.5",
        "--lon",
        "2.5",
        "--notes",
        "second",
        "--photo",
        b_dir.join("IMG_0001.jpg").to_str().unwrap(),
    ]);
    let out = peer.tmp.path().join("out.zip");
    let summary = peer.json(&["export", "zip", "--out", out.to_str().unwrap()]);
    assert_eq!(summary["attachments"], 3);
    assert_eq!(summary["attachmentsIncluded"], 3);
    assert_eq!(summary["attachmentsMissing"], 0);
    assert_eq!(summary["originalsMissing"], 0);
    let entries = zip_entries(&out);
    assert_eq!(entries.len(), 5, "geojson, three files, the missing list");
    let (geojson_name, geojson) = entry(&entries, ".geojson");
    let media_folder = format!(
        "{}/",
        entry(&entries, "/missing.ndjson")
            .0
            .rsplit_once('/')
            .unwrap()
            .0
    );
    assert!(media_folder.contains("_Media_"), "{media_folder}");
    assert!(geojson_name.starts_with("Mapeo_Río_Negro_"));
    let fc: Value = serde_json::from_slice(geojson).unwrap();
    let feature = |notes: &str| {
        fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["properties"]["notes"] == notes)
            .unwrap()
            .clone()
    };
    let file_of = |f: &Value, n: usize| {
        let name = f["properties"][format!("attachment_{n}")]
            .as_str()
            .unwrap_or_else(|| panic!("no attachment_{n} in {f:#}"))
            .to_owned();
        let path = format!("{media_folder}{name}");
        let (_, bytes) = entries
            .iter()
            .find(|(n, _)| *n == path)
            .unwrap_or_else(|| panic!("the GeoJSON names {path}, not in the zip"));
        (name, bytes.clone())
    };
    let first_feature = feature("first");
    let (name, bytes) = file_of(&first_feature, 1);
    assert!(name.ends_with("_original.jpg"), "{name}");
    assert_eq!(bytes, first, "the original, byte for byte");
    let (name, bytes) = file_of(&first_feature, 2);
    assert_eq!(name, "note_original.wav");
    assert_eq!(bytes, audio);
    let (other_name, bytes) = file_of(&feature("second"), 1);
    assert_eq!(bytes, second);
    assert_ne!(other_name, file_of(&first_feature, 1).0);
    assert!(missing_list(&entries).is_empty());

    // CSV names the same files.
    let csv = peer.tmp.path().join("out.csv");
    peer.json(&["export", "csv", "--out", csv.to_str().unwrap()]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("note_original.wav"), "{text}");
}

#[test]
fn photos_move_by_each_devices_blob_policy_and_the_zip_lists_what_is_missing() {
    let ana = Peer::new();
    let pid = ana.with_project("Ana", "Río Negro");
    let photo = jpeg(1600, 1200, 11);
    let audio = wav(24_000);
    let photo_path = write(&ana, "clearing.jpg", &photo);
    let audio_path = write(&ana, "voice.wav", &audio);
    let added = ana.json(&[
        "observation",
        "add",
        "--lat",
        "-2.98",
        "--lon",
        "-61.54",
        "--notes",
        "new clearing",
        "--photo",
        &photo_path,
        "--audio",
        &audio_path,
    ]);
    let id = added["docId"].as_str().unwrap().to_owned();
    let ana_preview = read_variant(&ana, Some(&pid), &added["media"][0], "preview");

    // Beto joins with `mapeo sync` (the archive, by default): the original comes with it.
    let beto = Peer::new();
    beto.json(&["identity", "set-name", "Beto"]);
    let summary = ana.invite_in(&pid, &beto, "member");
    assert_eq!(summary["blobPolicy"], "archive");
    assert!(
        summary["peers"][0]["projects"][0]["blobBytesReceived"]
            .as_u64()
            .unwrap()
            >= photo.len() as u64
    );
    let at_beto = beto.json(&["-p", &pid, "observation", "show", &id]);
    assert_eq!(
        read_variant(&beto, Some(&pid), &at_beto["media"][0], "original"),
        photo
    );
    assert_eq!(
        read_variant(&beto, Some(&pid), &at_beto["media"][1], "original"),
        audio
    );

    // Carla, a phone keeping previews only, joins while her serve runs.
    let carla = Peer::new();
    carla.json(&["identity", "set-name", "Carla", "--type", "mobile"]);
    let (ana_id, carla_id) = (ana.device_id(), carla.device_id());
    let mut hub = ana.serve(&[]);
    assert_eq!(hub.info["blobPolicy"], "archive");
    let mut phone = carla.serve(&[
        "--connect",
        &hub.code(),
        "--previews-only",
        "--accept-invites-from",
        &ana_id,
    ]);
    assert_eq!(phone.info["blobPolicy"], "previews-only");
    hub.wait_for("Carla connected", SYNC_TIMEOUT, |e| {
        e["event"] == "peer" && e["deviceId"] == carla_id.as_str() && e["connected"] == true
    });
    let outcome = ana.json(&["-p", &pid, "members", "invite", &carla_id]);
    assert_eq!(outcome["outcome"], "accepted");
    phone.wait_for("joined", SYNC_TIMEOUT, |e| e["event"] == "joined");
    eventually("the previews at Carla", SYNC_TIMEOUT, || {
        let shown = carla.run(&["--json", "-p", &pid, "observation", "show", &id]);
        shown.status.success() && {
            let v: Value = serde_json::from_slice(&shown.stdout).unwrap();
            v["media"][0]["known"] == true
                && variant(&v["media"][0], "preview")["here"] == true
                && variant(&v["media"][0], "thumbnail")["here"] == true
        }
    });
    // Her serve reports the media received and, once everything she keeps is here, synced.
    let done = phone.wait_for("synced with media", SYNC_TIMEOUT, |e| {
        e["event"] == "progress"
            && e["projectId"] == pid.as_str()
            && e["synced"] == true
            && e["blobBytesReceived"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(done["blobBytesWanted"], 0);
    hub.wait_for("media sent to Carla", SYNC_TIMEOUT, |e| {
        e["event"] == "progress"
            && e["peer"] == carla_id.as_str()
            && e["blobBytesSent"].as_u64().unwrap_or(0) > 0
    });
    let at_carla = carla.json(&["-p", &pid, "observation", "show", &id]);
    let (p, a) = (&at_carla["media"][0], &at_carla["media"][1]);
    assert_eq!(read_variant(&carla, Some(&pid), p, "preview"), ana_preview);
    assert_eq!(variant(p, "original")["here"], false);
    assert_eq!(variant(p, "original")["wanted"], false);
    assert_eq!(variant(a, "original")["here"], false);
    phone.stop();
    hub.stop();

    // Carla's zip holds the preview and says why the originals are not in it.
    let out = carla.tmp.path().join("carla.zip");
    let summary = carla.json(&["-p", &pid, "export", "zip", "--out", out.to_str().unwrap()]);
    assert_eq!(summary["attachmentsIncluded"], 1);
    assert_eq!(summary["attachmentsMissing"], 1);
    assert_eq!(summary["originalsMissing"], 2);
    let entries = zip_entries(&out);
    let (_, preview) = entry(&entries, "/clearing_preview.jpg");
    assert_eq!(*preview, ana_preview);
    let missing = missing_list(&entries);
    assert_eq!(missing.len(), 2, "{missing:#?}");
    let photo_row = missing.iter().find(|m| m["type"] == "photo").unwrap();
    assert_eq!(photo_row["name"], "clearing.jpg");
    assert_eq!(photo_row["file"], "clearing_preview.jpg");
    assert_eq!(photo_row["exportedVariant"], "preview");
    assert_eq!(
        photo_row["missingVariants"],
        serde_json::json!(["original"])
    );
    assert_eq!(photo_row["reason"], "not_downloaded_here");
    let audio_row = missing.iter().find(|m| m["type"] == "audio").unwrap();
    assert_eq!(audio_row["file"], Value::Null);
    assert_eq!(audio_row["reason"], "not_downloaded_here");
    let (_, geojson) = entry(&entries, ".geojson");
    let fc: Value = serde_json::from_slice(geojson).unwrap();
    let props = &fc["features"][0]["properties"];
    assert_eq!(props["attachment_1"], "clearing_preview.jpg");
    assert_eq!(props["attachment_2"], Value::Null);

    // Beto's (the archive's) holds the original.
    let out = beto.tmp.path().join("beto.zip");
    beto.json(&["-p", &pid, "export", "zip", "--out", out.to_str().unwrap()]);
    let entries = zip_entries(&out);
    assert_eq!(entry(&entries, "/clearing_original.jpg").1, photo);
    assert!(missing_list(&entries).is_empty());
}
