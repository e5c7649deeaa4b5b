//! VP8 decoding with Debian's libvpx (`libvpx-dev`), through the five C functions it
//! needs. No -sys crate on crates.io builds offline against the system library without
//! bindgen, so the declarations are written here against `vpx/vpx_decoder.h` (ABI 12).

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};

/// `VPX_DECODER_ABI_VERSION` = 3 + `VPX_CODEC_ABI_VERSION` (4 + `VPX_IMAGE_ABI_VERSION` 5).
const VPX_DECODER_ABI_VERSION: c_int = 12;
const VPX_IMG_FMT_I420: c_int = 0x100 | 2;

#[repr(C)]
struct VpxImage {
    fmt: c_int,
    cs: c_int,
    range: c_int,
    w: c_uint,
    h: c_uint,
    bit_depth: c_uint,
    d_w: c_uint,
    d_h: c_uint,
    r_w: c_uint,
    r_h: c_uint,
    x_chroma_shift: c_uint,
    y_chroma_shift: c_uint,
    planes: [*mut u8; 4],
    stride: [c_int; 4],
    bps: c_int,
    user_priv: *mut c_void,
    img_data: *mut u8,
    img_data_owner: c_int,
    self_allocd: c_int,
    fb_priv: *mut c_void,
}

/// `vpx_codec_ctx_t`: only ever handled by pointer, so an aligned, zeroed block larger
/// than the real struct (7 pointer-sized fields) is enough.
#[repr(C, align(8))]
struct VpxCtx([u8; 128]);

#[link(name = "vpx")]
extern "C" {
    fn vpx_codec_vp8_dx() -> *const c_void;
    fn vpx_codec_dec_init_ver(
        ctx: *mut VpxCtx,
        iface: *const c_void,
        cfg: *const c_void,
        flags: c_long,
        ver: c_int,
    ) -> c_int;
    fn vpx_codec_decode(
        ctx: *mut VpxCtx,
        data: *const u8,
        data_sz: c_uint,
        user_priv: *mut c_void,
        deadline: c_long,
    ) -> c_int;
    fn vpx_codec_get_frame(ctx: *mut VpxCtx, iter: *mut *const c_void) -> *const VpxImage;
    fn vpx_codec_destroy(ctx: *mut VpxCtx) -> c_int;
    fn vpx_codec_err_to_string(err: c_int) -> *const c_char;
}

/// A decoded picture, 8-bit RGB, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes, R G B.
    pub rgb: Vec<u8>,
}

fn err_text(code: c_int) -> String {
    // SAFETY: libvpx returns a pointer to a static NUL-terminated string for any code.
    unsafe {
        let p = vpx_codec_err_to_string(code);
        if p.is_null() {
            format!("libvpx error {code}")
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Decodes one complete VP8 frame (a keyframe, for a fresh decoder) to RGB.
pub fn decode_vp8(frame: &[u8]) -> Result<Image, String> {
    if frame.is_empty() {
        return Err("empty frame".into());
    }
    let mut ctx = Box::new(VpxCtx([0; 128]));
    // SAFETY: `ctx` is a zeroed block at least as large and aligned as vpx_codec_ctx_t;
    // the interface pointer comes from libvpx; a null cfg selects defaults.
    let rc = unsafe {
        vpx_codec_dec_init_ver(
            &mut *ctx,
            vpx_codec_vp8_dx(),
            std::ptr::null(),
            0,
            VPX_DECODER_ABI_VERSION,
        )
    };
    if rc != 0 {
        return Err(format!("decoder init: {}", err_text(rc)));
    }
    // SAFETY: the context was initialised above; `frame` outlives the call; the image
    // returned by get_frame stays valid until the next decode/destroy, and is copied
    // out before destroy.
    let result = unsafe {
        let rc = vpx_codec_decode(
            &mut *ctx,
            frame.as_ptr(),
            frame.len() as c_uint,
            std::ptr::null_mut(),
            0,
        );
        if rc != 0 {
            Err(format!("decode: {}", err_text(rc)))
        } else {
            let mut iter: *const c_void = std::ptr::null();
            let img = vpx_codec_get_frame(&mut *ctx, &mut iter);
            if img.is_null() {
                Err("the data decoded to no picture".to_string())
            } else {
                to_rgb(&*img)
            }
        }
    };
    // SAFETY: initialised above, destroyed once.
    unsafe {
        vpx_codec_destroy(&mut *ctx);
    }
    result
}

/// # Safety
/// `img` must be a valid image returned by libvpx, its planes readable for its size.
unsafe fn to_rgb(img: &VpxImage) -> Result<Image, String> {
    if img.fmt != VPX_IMG_FMT_I420 {
        return Err(format!("unexpected image format {:#x}", img.fmt));
    }
    let (w, h) = (img.d_w as usize, img.d_h as usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let y = *img.planes[0].add(row * img.stride[0] as usize + col) as f32;
            let u = *img.planes[1].add((row / 2) * img.stride[1] as usize + col / 2) as f32 - 128.0;
            let v = *img.planes[2].add((row / 2) * img.stride[2] as usize + col / 2) as f32 - 128.0;
            let c = (y - 16.0) * 1.164;
            rgb.push((c + 1.596 * v).clamp(0.0, 255.0) as u8);
            rgb.push((c - 0.392 * u - 0.813 * v).clamp(0.0, 255.0) as u8);
            rgb.push((c + 2.017 * u).clamp(0.0, 255.0) as u8);
        }
    }
    Ok(Image {
        width: w as u32,
        height: h as u32,
        rgb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        assert!(decode_vp8(&[]).is_err());
        assert!(decode_vp8(&[0u8; 3]).is_err());
        // A keyframe tag with a broken start code.
        let mut bad = vec![0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0xf0, 0x00];
        bad.extend(std::iter::repeat_n(0xAB, 200));
        assert!(decode_vp8(&bad).is_err());
    }
}
