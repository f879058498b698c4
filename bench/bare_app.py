"""Yardsticks served under the same gunicorn settings as the service: a bare Flask JSON endpoint,
and the naive write the issue measures against — one ORM insert with a commit per request."""

import os

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import exc
from sqlalchemy.orm import Mapped, mapped_column

from consent_service.config import database_uri

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = database_uri(os.environ.get("DATABASE_URL", "sqlite://"))
db = SQLAlchemy(app)


class NaiveRecord(db.Model):
    __tablename__ = "bench_naive_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]


with app.app_context():
    try:
        db.create_all()
    except exc.SQLAlchemyError:  # the other worker created it at the same moment
        pass


@app.get("/bare")
def bare():
    return jsonify({"status": "ok", "granted": ["necessary"]})


@app.post("/naive-insert")
def naive_insert():
    record = NaiveRecord(body=request.get_data(as_text=True))
    db.session.add(record)
    db.session.commit()
    return jsonify({"id": record.id}), 201
