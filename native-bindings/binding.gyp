{
  "targets": [
    {
      "target_name": "layerfs_native",
      "sources": [
        "src/addon.c",
        "src/args.c",
        "src/path_ops.c",
        "src/beneath.c",
        "src/xattr.c",
        "src/data.c",
        "src/dir.c",
        "src/fuse_dev.c"
      ],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-std=gnu11"],
      "cflags!": ["-O3"],
      # never unloaded: its job threads outlive the worker threads that load it (data.c)
      "ldflags": ["-Wl,-z,nodelete"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "layerfs",
      "type": "executable",
      "sources": ["src/launcher.c"],
      "cflags": ["-O2", "-Wall", "-std=gnu11"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
