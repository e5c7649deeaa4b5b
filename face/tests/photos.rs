//! The pipeline on the real photos of the `face_recognition==1.3.0` sdist (installed by
//! scripts/setup.sh into data/test_images; models into data/models).

use std::path::PathBuf;
use std::sync::OnceLock;

use face::engine::{Engine, EngineConfig, Enrollment};
use face::frame::Frame;
use face::image::{ImageError, DEFAULT_MAX_PIXELS};
use face::models::ModelSet;
use face::quality::{EnrollmentPolicy, QualityIssue};
use face::verify::{Outcome, DEFAULT_THRESHOLD};
use opencv::core::{self, Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;

fn repo_dir(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(default)
    })
}

pub fn models() -> ModelSet {
    ModelSet::verify(&repo_dir("KETANG_MODELS", "data/models"))
        .expect("face models (run scripts/setup.sh)")
}

pub fn photo_bytes(name: &str) -> Vec<u8> {
    let p = repo_dir("KETANG_TEST_IMAGES", "data/test_images").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", p.display()))
}

fn photo(name: &str) -> Frame {
    Frame::decode(&photo_bytes(name), DEFAULT_MAX_PIXELS).unwrap()
}

thread_local! {
    static ENGINE: Engine = Engine::load(&models(), EngineConfig::default()).unwrap();
}

fn with_engine<R>(f: impl FnOnce(&Engine) -> R) -> R {
    ENGINE.with(f)
}

static OBAMA: OnceLock<Enrollment> = OnceLock::new();

fn obama() -> Enrollment {
    OBAMA
        .get_or_init(|| {
            with_engine(|e| {
                e.enroll(&photo("obama.jpg"), &EnrollmentPolicy::default())
                    .unwrap()
            })
        })
        .clone()
}

fn check(probe: &Frame) -> face::verify::Verification {
    let enrolled = obama().embedding;
    with_engine(|e| e.verify(probe, &enrolled, DEFAULT_THRESHOLD))
}

#[test]
fn same_person_matches() {
    for name in ["obama2.jpg", "obama3.jpg", "32bit.png"] {
        let v = check(&photo(name));
        assert_eq!(v.outcome, Outcome::Match, "{name}: {v:?}");
        assert!(v.distance.unwrap() < 0.45, "{name}: {v:?}");
    }
}

#[test]
fn different_person_mismatches() {
    let v = check(&photo("biden.jpg"));
    assert_eq!(v.outcome, Outcome::Mismatch, "{v:?}");
    assert!(v.distance.unwrap() > 0.7, "{v:?}");
}

fn crop(f: &Frame, r: Rect) -> Frame {
    Frame::from_bgr(Mat::roi(f.bgr(), r).unwrap().try_clone().unwrap()).unwrap()
}

#[test]
fn a_photo_without_a_face_is_no_face() {
    // The part of biden.jpg below his face: suit and background, no face.
    let b = photo("biden.jpg");
    let below = crop(&b, Rect::new(0, 1000, b.width() as i32, 900));
    assert_eq!(check(&below).outcome, Outcome::NoFace);
    let blank = Frame::decode(
        &face::image::synthetic(320, 240, face::image::ImageFormat::Jpeg),
        DEFAULT_MAX_PIXELS,
    )
    .unwrap();
    assert_eq!(check(&blank).outcome, Outcome::NoFace);
}

/// obama.jpg and biden.jpg side by side, scaled to one height.
fn group_photo() -> Frame {
    let (a, b) = (photo("obama.jpg"), photo("biden.jpg"));
    let h = 800;
    let scale = |f: &Frame| f.resized(f.width() * h / f.height(), h);
    let mut out = Mat::default();
    let parts = Vector::<Mat>::from_iter([scale(&a).bgr().clone(), scale(&b).bgr().clone()]);
    core::hconcat(&parts, &mut out).unwrap();
    Frame::from_bgr(out).unwrap()
}

#[test]
fn a_group_photo_is_multiple_faces_and_cannot_enroll() {
    let g = group_photo();
    let v = check(&g);
    assert_eq!((v.outcome, v.faces), (Outcome::MultipleFaces, 2), "{v:?}");
    let err = with_engine(|e| e.enroll(&g, &EnrollmentPolicy::default())).unwrap_err();
    assert_eq!(err, QualityIssue::MultipleFaces { count: 2 });
}

#[test]
fn a_blurred_enrollment_photo_is_refused_as_blurry() {
    let o = photo("obama.jpg");
    let mut blurred = Mat::default();
    imgproc::gaussian_blur_def(o.bgr(), &mut blurred, Size::new(0, 0), 6.0).unwrap();
    let err = with_engine(|e| {
        e.enroll(
            &Frame::from_bgr(blurred).unwrap(),
            &EnrollmentPolicy::default(),
        )
    })
    .unwrap_err();
    assert_eq!(err.code(), "blurry", "{err:?}");
    assert!(err.to_string().contains("blurry"));
    // The sharp original passes with a clear margin.
    assert!(
        obama().quality.sharpness > 2.0 * EnrollmentPolicy::default().min_sharpness,
        "{:?}",
        obama().quality
    );
}

#[test]
fn a_tiny_enrollment_photo_is_refused_as_too_small() {
    // obama.jpg scaled so his face is ~55 px: still found (upsampled HOG / CNN), too small.
    let o = photo("obama.jpg");
    let tiny = o.resized(o.width() / 5, o.height() / 5);
    let err = with_engine(|e| e.enroll(&tiny, &EnrollmentPolicy::default())).unwrap_err();
    assert!(
        matches!(err, QualityIssue::FaceTooSmall { min: 80, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("too small"));
}

#[test]
fn dark_and_washed_out_photos_are_refused() {
    let o = photo("obama.jpg");
    let mut dark = Mat::default();
    o.bgr().convert_to(&mut dark, -1, 0.2, 0.0).unwrap();
    let err = with_engine(|e| {
        e.enroll(
            &Frame::from_bgr(dark).unwrap(),
            &EnrollmentPolicy::default(),
        )
    })
    .unwrap_err();
    assert!(matches!(err.code(), "too_dark" | "no_face"), "{err:?}");
    let mut bright = Mat::default();
    o.bgr().convert_to(&mut bright, -1, 1.0, 150.0).unwrap();
    let err = with_engine(|e| {
        e.enroll(
            &Frame::from_bgr(bright).unwrap(),
            &EnrollmentPolicy::default(),
        )
    })
    .unwrap_err();
    assert!(matches!(err.code(), "too_bright" | "no_face"), "{err:?}");
}

#[test]
fn small_camera_frames_verify() {
    // A 320×240 "webcam" frame made from obama2.jpg: the face is ~60 px.
    let o2 = photo("obama2.jpg");
    let r = Rect::new(0, 150, 626, 470);
    let frame = crop(&o2, r).resized(320, 240);
    let v = check(&frame);
    assert_eq!(v.outcome, Outcome::Match, "{v:?}");
}

#[test]
fn bad_bytes_are_clear_errors() {
    let jpg = photo_bytes("obama.jpg");
    let png = photo_bytes("32bit.png");
    assert_eq!(
        Frame::decode(&jpg[..jpg.len() / 2], DEFAULT_MAX_PIXELS).unwrap_err(),
        ImageError::Corrupt
    );
    assert_eq!(
        Frame::decode(&png[..png.len() / 2], DEFAULT_MAX_PIXELS).unwrap_err(),
        ImageError::Corrupt
    );
    let mut garbled = png.clone();
    for b in garbled.iter_mut().skip(100).take(5000) {
        *b ^= 0x5A;
    }
    assert_eq!(
        Frame::decode(&garbled, DEFAULT_MAX_PIXELS).unwrap_err(),
        ImageError::Corrupt
    );
    assert_eq!(
        Frame::decode(b"GIF89a....", DEFAULT_MAX_PIXELS).unwrap_err(),
        ImageError::UnknownFormat
    );
    assert_eq!(
        Frame::decode(b"", DEFAULT_MAX_PIXELS).unwrap_err(),
        ImageError::UnknownFormat
    );
    assert!(matches!(
        Frame::decode(&jpg, 1_000_000).unwrap_err(),
        ImageError::TooLarge {
            width: 910,
            height: 1137,
            max_pixels: 1_000_000
        }
    ));
    // After all that, the engine still works.
    assert_eq!(check(&photo("obama2.jpg")).outcome, Outcome::Match);
}
