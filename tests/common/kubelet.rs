//! A volume as the kubelet writes ConfigMaps and Secrets: `DIR/..<stamp>/FILE`,
//! `DIR/..data -> ..<stamp>`, `DIR/FILE -> ..data/FILE`; an update writes a new stamp
//! directory, renames a new `..data` link over the old one and removes the old stamp directory.
//! The files themselves are never written after they are made.

use std::os::unix::fs::symlink;
use std::path::PathBuf;

pub struct KubeletVolume {
    pub dir: PathBuf,
    generation: u32,
}

impl KubeletVolume {
    pub fn new(dir: PathBuf, files: &[(&str, &str)]) -> KubeletVolume {
        std::fs::create_dir_all(&dir).unwrap();
        let mut v = KubeletVolume { dir, generation: 0 };
        v.write(files);
        for (f, _) in files {
            symlink(format!("..data/{f}"), v.dir.join(f)).unwrap();
        }
        v
    }

    fn stamp(generation: u32) -> String {
        format!("..2026_12_04_16_00_{generation:02}.{generation}")
    }

    pub fn write(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let stamp = Self::stamp(self.generation);
        std::fs::create_dir(self.dir.join(&stamp)).unwrap();
        for (f, content) in files {
            std::fs::write(self.dir.join(&stamp).join(f), content).unwrap();
        }
        symlink(&stamp, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        if self.generation > 1 {
            std::fs::remove_dir_all(self.dir.join(Self::stamp(self.generation - 1))).unwrap();
        }
    }
}
