{
  # fuse-native 2.2.6's C with layerfs' patch (scripts/build-fuse-native.js writes src/), linked to
  # the system's libfuse 2 (libfuse.so.2; Linux only: elsewhere the package's prebuild is used).
  "targets": [{
    "target_name": "fuse_native_patched",
    "sources": ["src/fuse-native.c"],
    "include_dirs": [
      "<!(node -p \"require('path').dirname(require.resolve('napi-macros/package.json'))\")",
      "<!(node -p \"require('path').join(require('path').dirname(require.resolve('fuse-shared-library-linux/package.json')), 'libfuse', 'include')\")"
    ],
    "defines": ["_FILE_OFFSET_BITS=64"],
    "libraries": ["-l:libfuse.so.2"],
    "cflags": ["-O2", "-Wall", "-Wno-unused-variable", "-Wno-unused-function"],
    "conditions": [["OS!='linux'", { "type": "none" }]]
  }]
}
