//! RTP payload types: the static table of RFC 3551 §6 and the dynamic range.
//!
//! A payload type's codec is taken from `a=rtpmap` when the media section has one
//! ([`MediaDescription::codec`](super::MediaDescription::codec)), else from this table.

use std::ops::RangeInclusive;

/// An RTP payload format as `a=rtpmap` names it: `<encoding name>/<clock rate>[/<channels>]`
/// (RFC 4566 §6, RFC 3551).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Codec<'a> {
    /// Encoding name as written (`PCMU`, `telephone-event`, `H264`); compare it with
    /// [`Codec::is`], since encoding names are case-insensitive.
    pub encoding: &'a str,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channel count as written; `None` when omitted (one channel for audio).
    pub channels: Option<u16>,
}

impl Codec<'_> {
    /// The number of channels, 1 when not given.
    pub fn channel_count(&self) -> u16 {
        self.channels.unwrap_or(1)
    }

    /// Whether the encoding name is `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.encoding.eq_ignore_ascii_case(name)
    }

    /// Whether both describe the same format: same name (ignoring case), clock rate and
    /// channel count. This is the match RFC 3264 §6.1 asks for when answering with a
    /// different dynamic payload type number.
    pub fn same_format(&self, other: &Codec<'_>) -> bool {
        self.is(other.encoding)
            && self.clock_rate == other.clock_rate
            && self.channel_count() == other.channel_count()
    }
}

/// Whether a static payload type carries audio, video, or either (MP2T).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadMedia {
    /// An audio encoding.
    Audio,
    /// A video encoding.
    Video,
    /// Audio and video (MP2T).
    AudioVideo,
}

/// One row of the RFC 3551 §6 tables 4 and 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StaticPayloadType {
    /// The payload type number.
    pub payload_type: u8,
    /// Audio or video.
    pub media: PayloadMedia,
    /// Encoding name, clock rate and channels.
    pub codec: Codec<'static>,
}

const fn row(
    payload_type: u8,
    media: PayloadMedia,
    encoding: &'static str,
    clock_rate: u32,
    channels: Option<u16>,
) -> StaticPayloadType {
    StaticPayloadType {
        payload_type,
        media,
        codec: Codec {
            encoding,
            clock_rate,
            channels,
        },
    }
}

/// The payload types RFC 3551 §6 assigns statically, in numeric order. Types 1, 2, 19 and
/// 20–24 are reserved or unassigned there and are absent here.
pub const STATIC_PAYLOAD_TYPES: [StaticPayloadType; 24] = {
    use PayloadMedia::{Audio, AudioVideo, Video};
    [
        row(0, Audio, "PCMU", 8000, None),
        row(3, Audio, "GSM", 8000, None),
        row(4, Audio, "G723", 8000, None),
        row(5, Audio, "DVI4", 8000, None),
        row(6, Audio, "DVI4", 16000, None),
        row(7, Audio, "LPC", 8000, None),
        row(8, Audio, "PCMA", 8000, None),
        row(9, Audio, "G722", 8000, None),
        row(10, Audio, "L16", 44100, Some(2)),
        row(11, Audio, "L16", 44100, None),
        row(12, Audio, "QCELP", 8000, None),
        row(13, Audio, "CN", 8000, None),
        row(14, Audio, "MPA", 90000, None),
        row(15, Audio, "G728", 8000, None),
        row(16, Audio, "DVI4", 11025, None),
        row(17, Audio, "DVI4", 22050, None),
        row(18, Audio, "G729", 8000, None),
        row(25, Video, "CelB", 90000, None),
        row(26, Video, "JPEG", 90000, None),
        row(28, Video, "nv", 90000, None),
        row(31, Video, "H261", 90000, None),
        row(32, Video, "MPV", 90000, None),
        row(33, AudioVideo, "MP2T", 90000, None),
        row(34, Video, "H263", 90000, None),
    ]
};

/// The payload types left to be bound with `a=rtpmap` (RFC 3551 §6).
pub const DYNAMIC_PAYLOAD_TYPES: RangeInclusive<u8> = 96..=127;

/// The statically assigned row for `payload_type`, if RFC 3551 assigns one.
pub fn static_payload_type(payload_type: u8) -> Option<&'static StaticPayloadType> {
    STATIC_PAYLOAD_TYPES
        .iter()
        .find(|row| row.payload_type == payload_type)
}

/// The codec RFC 3551 assigns to `payload_type`, if static.
pub fn static_codec(payload_type: u8) -> Option<Codec<'static>> {
    static_payload_type(payload_type).map(|row| row.codec)
}

/// The static payload type for a codec, if one is assigned (matched as in
/// [`Codec::same_format`]); used to prefer e.g. `0` over a dynamic number for PCMU.
pub fn static_payload_type_for(codec: &Codec<'_>) -> Option<u8> {
    STATIC_PAYLOAD_TYPES
        .iter()
        .find(|row| row.codec.same_format(codec))
        .map(|row| row.payload_type)
}

/// Whether `payload_type` is in the dynamic range 96–127.
pub fn is_dynamic(payload_type: u8) -> bool {
    DYNAMIC_PAYLOAD_TYPES.contains(&payload_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_rfc_3551() {
        let expect: [(u8, &str, u32, u16); 24] = [
            (0, "PCMU", 8000, 1),
            (3, "GSM", 8000, 1),
            (4, "G723", 8000, 1),
            (5, "DVI4", 8000, 1),
            (6, "DVI4", 16000, 1),
            (7, "LPC", 8000, 1),
            (8, "PCMA", 8000, 1),
            (9, "G722", 8000, 1),
            (10, "L16", 44100, 2),
            (11, "L16", 44100, 1),
            (12, "QCELP", 8000, 1),
            (13, "CN", 8000, 1),
            (14, "MPA", 90000, 1),
            (15, "G728", 8000, 1),
            (16, "DVI4", 11025, 1),
            (17, "DVI4", 22050, 1),
            (18, "G729", 8000, 1),
            (25, "CelB", 90000, 1),
            (26, "JPEG", 90000, 1),
            (28, "nv", 90000, 1),
            (31, "H261", 90000, 1),
            (32, "MPV", 90000, 1),
            (33, "MP2T", 90000, 1),
            (34, "H263", 90000, 1),
        ];
        for (pt, name, rate, ch) in expect {
            let c = static_codec(pt).unwrap();
            assert_eq!(
                (c.encoding, c.clock_rate, c.channel_count()),
                (name, rate, ch),
                "pt {pt}"
            );
        }
        for pt in [
            1, 2, 19, 20, 21, 22, 23, 24, 27, 29, 30, 35, 72, 95, 96, 127, 128, 255,
        ] {
            assert_eq!(static_codec(pt), None, "pt {pt}");
        }
        assert!(STATIC_PAYLOAD_TYPES.is_sorted_by_key(|row| row.payload_type));
        assert_eq!(static_payload_type(31).unwrap().media, PayloadMedia::Video);
        assert_eq!(
            static_payload_type(33).unwrap().media,
            PayloadMedia::AudioVideo
        );
        assert_eq!(static_payload_type(8).unwrap().media, PayloadMedia::Audio);
    }

    #[test]
    fn dynamic_range() {
        assert!(!is_dynamic(95));
        assert!(is_dynamic(96));
        assert!(is_dynamic(127));
        assert!(!is_dynamic(128));
        assert!(!is_dynamic(0));
    }

    #[test]
    fn reverse_lookup_and_matching() {
        let pcma = Codec {
            encoding: "pcma",
            clock_rate: 8000,
            channels: Some(1),
        };
        assert_eq!(static_payload_type_for(&pcma), Some(8));
        let stereo = Codec {
            encoding: "L16",
            clock_rate: 44100,
            channels: Some(2),
        };
        assert_eq!(static_payload_type_for(&stereo), Some(10));
        let mono = Codec {
            encoding: "L16",
            clock_rate: 44100,
            channels: None,
        };
        assert_eq!(static_payload_type_for(&mono), Some(11));
        let opus = Codec {
            encoding: "opus",
            clock_rate: 48000,
            channels: Some(2),
        };
        assert_eq!(static_payload_type_for(&opus), None);
        assert!(pcma.is("PCMA"));
        assert!(!pcma.same_format(&mono));
    }
}
