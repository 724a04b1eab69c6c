"""hfed client: mount table, NameNode/DataNode clients and the fsspec filesystem.

    from client.fs import HfedFileSystem
    fs = HfedFileSystem()          # config from --conf / $HFED_CONF / last `hfed cluster up`
    fs.ls("/")
"""
