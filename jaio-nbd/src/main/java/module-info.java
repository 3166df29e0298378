/** jaio-nbd: an NBD server built on jaio's public API only. */
module io.jaio.nbd {
    requires io.jaio;
}
