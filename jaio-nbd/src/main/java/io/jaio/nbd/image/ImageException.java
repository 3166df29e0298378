// SPDX-License-Identifier: Apache-2.0
package io.jaio.nbd.image;

/**
 * An image that cannot be opened or served as asked: the message is one sentence naming the
 * file, the value found and what was expected.
 */
public final class ImageException extends Exception {
    private static final long serialVersionUID = 1L;

    public ImageException(String message) {
        super(message);
    }
}
