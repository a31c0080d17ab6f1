//! Links the engines' system libraries (Debian: libespeak-ng-dev, flite1-dev).

fn main() {
    println!("cargo:rustc-link-lib=espeak-ng");
    for library in [
        "flite_cmu_us_slt",
        "flite_cmu_us_rms",
        "flite_cmu_us_awb",
        "flite_cmu_us_kal16",
        "flite_usenglish",
        "flite_cmulex",
        "flite",
    ] {
        println!("cargo:rustc-link-lib={library}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
