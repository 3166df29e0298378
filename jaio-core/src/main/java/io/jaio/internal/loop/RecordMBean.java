// SPDX-License-Identifier: Apache-2.0
package io.jaio.internal.loop;

import java.lang.management.ManagementFactory;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.function.Supplier;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.AttributeNotFoundException;
import javax.management.DynamicMBean;
import javax.management.InstanceAlreadyExistsException;
import javax.management.InstanceNotFoundException;
import javax.management.JMException;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.management.ReflectionException;

/**
 * A read-only MBean whose attributes are the components of a record that a supplier makes on each
 * read: {@code AioContext.registerMBean()} shows {@link io.jaio.AioStats} this way, one attribute
 * per field. {@link #getAttributes} reads one snapshot for all the names it is given.
 *
 * <p>Threading: any thread (JMX calls it from its own threads); the supplier must be callable
 * from any thread.
 */
public final class RecordMBean implements DynamicMBean {
    private final Supplier<? extends Record> source;
    private final RecordComponent[] components;
    private final MBeanInfo info;

    public RecordMBean(Class<? extends Record> type, Supplier<? extends Record> source, String description) {
        this.source = source;
        this.components = type.getRecordComponents();
        MBeanAttributeInfo[] attrs = new MBeanAttributeInfo[components.length];
        for (int i = 0; i < components.length; i++) {
            RecordComponent c = components[i];
            attrs[i] = new MBeanAttributeInfo(c.getName(), c.getType().getName(), c.getName() + " (" + type.getSimpleName() + ")",
                    true, false, false);
        }
        this.info = new MBeanInfo(type.getName(), description, attrs, null, null, null);
    }

    /**
     * Registers {@code bean} in the platform MBean server as {@code domainAndType} plus
     * {@code name=<quoted name>}, adding {@code ,id=N} when that name is taken (two contexts of
     * the same name). Returns the name it got.
     */
    public static ObjectName register(DynamicMBean bean, String domainAndType, String name) throws JMException {
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        String base = domainAndType + ",name=" + ObjectName.quote(name);
        for (int id = 1; id < 1000; id++) { // bounded: a thousand live beans of one name is a leak, not a use
            ObjectName on = new ObjectName(id == 1 ? base : base + ",id=" + id);
            try {
                server.registerMBean(bean, on);
                return on;
            } catch (InstanceAlreadyExistsException taken) {
                continue;
            }
        }
        throw new InstanceAlreadyExistsException(base + " (and ids 2..999)");
    }

    /** Unregisters {@code on} if it is still registered. */
    public static void unregister(ObjectName on) {
        try {
            ManagementFactory.getPlatformMBeanServer().unregisterMBean(on);
        } catch (InstanceNotFoundException gone) {
            // someone unregistered it already: nothing to do
        } catch (JMException e) {
            throw new IllegalStateException("cannot unregister MBean " + on + ": " + e, e);
        }
    }

    private Object read(Record r, RecordComponent c) throws ReflectionException {
        try {
            return c.getAccessor().invoke(r);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new ReflectionException(e, "reading " + c.getName());
        }
    }

    @Override
    public Object getAttribute(String attribute) throws AttributeNotFoundException, ReflectionException {
        for (RecordComponent c : components) {
            if (c.getName().equals(attribute)) {
                return read(source.get(), c);
            }
        }
        throw new AttributeNotFoundException("attribute " + attribute + " (expected one of " + info.getAttributes().length
                + " record components, such as " + components[0].getName() + ")");
    }

    @Override
    public AttributeList getAttributes(String[] attributes) {
        Record r = source.get();
        AttributeList out = new AttributeList();
        for (String a : attributes) {
            for (RecordComponent c : components) {
                if (c.getName().equals(a)) {
                    try {
                        out.add(new Attribute(a, read(r, c)));
                    } catch (ReflectionException e) {
                        // JMX's contract: attributes that cannot be read are left out of the list
                    }
                }
            }
        }
        return out;
    }

    @Override
    public void setAttribute(Attribute attribute) throws AttributeNotFoundException {
        throw new AttributeNotFoundException("attribute " + attribute.getName() + " is read-only (expected reads only)");
    }

    @Override
    public AttributeList setAttributes(AttributeList attributes) {
        return new AttributeList(); // read-only: nothing set
    }

    @Override
    public Object invoke(String actionName, Object[] params, String[] signature) throws ReflectionException {
        throw new ReflectionException(new NoSuchMethodException(actionName), "operation " + actionName
                + " (expected none: this MBean only has attributes)");
    }

    @Override
    public MBeanInfo getMBeanInfo() {
        return info;
    }
}
